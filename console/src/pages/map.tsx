// Saved places on a Leaflet map: click to add one and see its address, edit and delete,
// search near the centre by radius or within the visible map, download GeoJSON. Without
// reachable tiles the grid stays blank and everything else still works.
import { useEffect, useRef, useState } from "preact/hooks";
import L from "leaflet";
import { del, get, post, put, query, session, API } from "../api";
import type { Page } from "../api";
import { config } from "../config";
import type { GeocodedAddress, Place } from "../types";
import { Field, Loaded, PageTitle, ProblemBanner, asProblem, onSubmit, useResource, useSubmit } from "../ui";

type Draft = { id?: string; name: string; notes: string; tags: string; lat: number; lon: number; address?: GeocodedAddress | null };

const pin = (label: string, selected = false) =>
  L.divIcon({ className: `pin${selected ? " selected" : ""}`, html: `<span class="sr-only">${label.replace(/[<>&"]/g, "")}</span>`, iconSize: [18, 18], iconAnchor: [9, 9] });

export function MapPage() {
  const host = useRef<HTMLDivElement>(null);
  const map = useRef<L.Map | undefined>(undefined);
  const layer = useRef<L.LayerGroup | undefined>(undefined);
  const [bbox, setBbox] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [geocoding, setGeocoding] = useState(false);
  const [radius, setRadius] = useState("5");
  const [nearby, setNearby] = useState<Place[] | null>(null);
  const places = useResource(() => get<Page<Place>>(`locations${query({ bbox, limit: 100 })}`), [bbox]);

  useEffect(() => {
    const m = L.map(host.current!, { center: [48.8584, 2.2945], zoom: 12, keyboard: true });
    if (config.tileUrl) L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 19 }).addTo(m);
    layer.current = L.layerGroup().addTo(m);
    m.on("click", (e: L.LeafletMouseEvent) => startDraft(e.latlng.lat, e.latlng.lng));
    map.current = m;
    return () => m.remove();
  }, []);

  // The markers follow the list.
  useEffect(() => {
    const group = layer.current;
    if (!group) return;
    group.clearLayers();
    for (const p of places.data?.data ?? []) {
      L.marker([p.lat, p.lon], { icon: pin(p.name, draft?.id === p.id), title: p.name, alt: p.name, keyboard: true })
        .on("click", () => setDraft({ id: p.id, name: p.name, notes: p.notes ?? "", tags: p.tags.join(", "), lat: p.lat, lon: p.lon, address: p.address }))
        .addTo(group);
    }
    if (draft && !draft.id) L.marker([draft.lat, draft.lon], { icon: pin("New place", true), title: "New place", keyboard: false }).addTo(group);
  }, [places.data, draft]);

  async function startDraft(lat: number, lon: number) {
    setDraft({ name: "", notes: "", tags: "", lat, lon, address: null });
    setGeocoding(true);
    try {
      const r = await get<{ address: GeocodedAddress }>(`locations/reverse-geocode/${lat.toFixed(6)}/${lon.toFixed(6)}`);
      setDraft((d) => (d && !d.id && d.lat === lat ? { ...d, address: r.address, name: d.name || r.address.road || r.address.city || "" } : d));
    } catch {
      // The place can still be saved; the server tries the address again.
    } finally {
      setGeocoding(false);
    }
  }

  const save = useSubmit(async () => {
    const d = draft!;
    const body = { name: d.name, notes: d.notes || null, tags: d.tags.split(",").map((t) => t.trim()).filter(Boolean), lat: d.lat, lon: d.lon };
    const saved = d.id ? await put<Place>(`locations/${d.id}`, body) : await post<Place>("locations", body);
    setDraft({ id: saved.id, name: saved.name, notes: saved.notes ?? "", tags: saved.tags.join(", "), lat: saved.lat, lon: saved.lon, address: saved.address });
    places.reload(true);
  });
  const remove = useSubmit(async () => {
    await del(`locations/${draft!.id}`);
    setDraft(null);
    places.reload(true);
  });
  const findNearby = useSubmit(async () => {
    const c = map.current!.getCenter();
    setNearby(await get<Place[]>(`locations/nearby${query({ lat: c.lat.toFixed(6), lon: c.lng.toFixed(6), radius_km: radius, limit: 50 })}`));
  });
  const download = useSubmit(async () => {
    const res = await fetch(`${API}/locations.geojson`, { headers: { authorization: `Bearer ${session.token()}` } });
    if (!res.ok) throw asProblem(new Error(`The download failed (${res.status}).`));
    const url = URL.createObjectURL(await res.blob());
    const a = Object.assign(document.createElement("a"), { href: url, download: "places.geojson" });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  const searchVisible = () => {
    const b = map.current!.getBounds();
    setBbox([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(","));
  };
  const show = (p: Place) => {
    map.current!.setView([p.lat, p.lon], Math.max(map.current!.getZoom(), 14));
    setDraft({ id: p.id, name: p.name, notes: p.notes ?? "", tags: p.tags.join(", "), lat: p.lat, lon: p.lon, address: p.address });
  };

  return (
    <section>
      <PageTitle actions={<button type="button" onClick={() => download.run()}>Download GeoJSON</button>}>Map</PageTitle>
      <ProblemBanner problem={download.problem} />
      <p class="muted">Click the map to add a place.</p>
      <div class="map-layout">
        <div ref={host} class="map" data-testid="map" role="application" aria-label="Map of saved places" />
        <div class="map-side">
          {draft && (
            <form onSubmit={onSubmit(save.run)} noValidate aria-label={draft.id ? "Edit place" : "New place"} class="place-form">
              <h2>{draft.id ? "Place" : "New place"}</h2>
              <p class="muted">{draft.lat.toFixed(5)}, {draft.lon.toFixed(5)}</p>
              <p data-testid="place-address" aria-live="polite">
                {geocoding ? "Finding the address…" : draft.address?.display_name ?? "No address known."}
              </p>
              <ProblemBanner problem={save.problem ?? remove.problem} fields={["name", "notes", "tags"]} />
              <Field label="Name" name="name" value={draft.name} onValue={(v) => setDraft({ ...draft, name: v })} problem={save.problem} />
              <Field label="Notes" name="notes" multiline rows={2} value={draft.notes} onValue={(v) => setDraft({ ...draft, notes: v })} problem={save.problem} />
              <Field label="Tags" name="tags" hint="Separated by commas" value={draft.tags} onValue={(v) => setDraft({ ...draft, tags: v })} problem={save.problem} />
              <div class="actions">
                <button class="primary" disabled={save.busy}>Save place</button>
                {draft.id && <button type="button" class="danger" onClick={() => remove.run()}>Delete</button>}
                <button type="button" onClick={() => setDraft(null)}>Close</button>
              </div>
            </form>
          )}
          <h2>Places</h2>
          <div class="actions">
            <button type="button" onClick={searchVisible}>Search the visible map</button>
            {bbox && <button type="button" onClick={() => setBbox(null)}>Show all</button>}
          </div>
          <Loaded r={places} empty={(p) => p.data.length === 0} emptyText="No saved places here.">
            {(p) => <ul class="list">{p.data.map((pl) => <li key={pl.id}><button type="button" class="link" onClick={() => show(pl)}>{pl.name}</button> <span class="muted">{pl.address?.city ?? ""}</span></li>)}</ul>}
          </Loaded>
          <form onSubmit={onSubmit(findNearby.run)} class="inline-form" aria-label="Nearby search">
            <Field label="Radius around the centre (km)" name="radius_km" type="number" min="0.1" step="0.1" value={radius} onValue={setRadius} problem={findNearby.problem} />
            <button>Find nearby</button>
          </form>
          <ProblemBanner problem={findNearby.problem} fields={["radius_km"]} />
          {nearby && (nearby.length === 0 ? <p class="empty">Nothing within {radius} km.</p> :
            <ul class="list">{nearby.map((p) => <li key={p.id}><button type="button" class="link" onClick={() => show(p)}>{p.name}</button> {p.distance_km?.toFixed(2)} km</li>)}</ul>)}
        </div>
      </div>
    </section>
  );
}
