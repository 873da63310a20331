// Bundles the console into OUTDIR (default dist/): hashed, minified assets under assets/ and
// an index.html that names them. `node build.mjs [OUTDIR]`; Cargo's build.rs calls it.
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync, rmSync, mkdirSync } from "node:fs";
import path from "node:path";

const outdir = path.resolve(process.argv[2] ?? "dist");
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

const result = await esbuild.build({
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: path.join(outdir, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  loader: { ".png": "file", ".svg": "file" },
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
});

// The entry's script and its stylesheet, by their hashed names.
const [script, entry] = Object.entries(result.metafile.outputs).find(([, meta]) => meta.entryPoint);
if (!entry.cssBundle) throw new Error("the entry imports no stylesheet");
const url = (file) => "/assets/" + path.basename(file);
const html = readFileSync("index.html", "utf8")
  .replace("%SCRIPT%", url(script))
  .replace("%STYLE%", url(entry.cssBundle));
writeFileSync(path.join(outdir, "index.html"), html);
