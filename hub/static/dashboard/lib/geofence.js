// A small hand-drawn map of a site's geofence: its circle and its neighbours' circles around it,
// on a flat local projection (metres east/north of the site). No tiles, nothing fetched.
import { svg } from "./dom.js";

const SIZE = 300;
const M_PER_DEG_LAT = 110540;
const M_PER_DEG_LON = 111320;

/** Metres east and north of (lat0, lon0): flat-earth, fine for a few kilometres. */
export function offsetM(lat0, lon0, lat, lon) {
  return [(lon - lon0) * M_PER_DEG_LON * Math.cos((lat0 * Math.PI) / 180), (lat - lat0) * M_PER_DEG_LAT];
}

const placed = (s) => Number.isFinite(s.lat) && Number.isFinite(s.lon) && s.lat !== null && s.lon !== null;

/**
 * An SVG of ``site`` (its circle, red centre) and the ``others`` within view, each labelled with
 * its site id. The view spans three times the radius, widened to show neighbours up to 5 km away.
 */
export function geofenceDrawing(site, others) {
  const drawing = svg("svg", { viewBox: `0 0 ${SIZE} ${SIZE}`, width: SIZE, height: SIZE, role: "img",
    class: "geofence", "aria-label": `geofence ${site.site_id}` });
  drawing.append(svg("rect", { width: SIZE, height: SIZE, fill: "#f7faf7", stroke: "#c8d0c8" }));
  if (!placed(site)) return drawing;
  const radius = site.radius_m || 100;
  const near = others.filter((o) => o.site_id !== site.site_id && placed(o))
    .map((o) => ({ o, xy: offsetM(site.lat, site.lon, o.lat, o.lon) }))
    .filter(({ xy }) => Math.hypot(...xy) <= 5000);
  const reach = Math.max(radius * 1.5, ...near.map(({ o, xy }) => Math.hypot(...xy) + (o.radius_m || 100)));
  const scale = (SIZE / 2 - 10) / reach;  // pixels per metre
  const toXY = ([east, north]) => [SIZE / 2 + east * scale, SIZE / 2 - north * scale];
  for (const { o, xy } of near) {
    const [x, y] = toXY(xy);
    const ring = svg("circle", { cx: x, cy: y, r: Math.max(2, (o.radius_m || 100) * scale), class: "fence-other",
      "data-site": o.site_id, fill: "#90a4ae33", stroke: "#607d8b" });
    drawing.append(ring);
    const label = svg("text", { x, y: y - 4, "text-anchor": "middle", class: "fence-label" });
    label.textContent = o.site_id;
    drawing.append(label);
  }
  drawing.append(svg("circle", { cx: SIZE / 2, cy: SIZE / 2, r: radius * scale, class: "fence-own",
    "data-site": site.site_id, fill: "#2e7d3233", stroke: "#2e7d32", "stroke-width": 2 }));
  drawing.append(svg("circle", { cx: SIZE / 2, cy: SIZE / 2, r: 3, fill: "#c62828" }));
  const own = svg("text", { x: SIZE / 2, y: SIZE / 2 + 16, "text-anchor": "middle", class: "fence-label own" });
  own.textContent = `${site.site_id} · ${Math.round(radius)} m`;
  drawing.append(own);
  const bar = svg("text", { x: 8, y: SIZE - 8, class: "fence-scale" });
  bar.textContent = `${site.lat.toFixed(5)}, ${site.lon.toFixed(5)}`;
  drawing.append(bar);
  return drawing;
}
