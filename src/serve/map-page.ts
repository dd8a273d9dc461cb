/**
 * The live map page served at `/map`: one self-contained HTML file (inline CSS and script,
 * nothing fetched from elsewhere — command posts have no internet). It reads its settings
 * from the URL fragment, which browsers never send to the server, so tap tokens stay out of
 * server logs and proxies:
 *
 *   /map#stream=telemetry.position&token=<tap token>[&alerts=derived.alerts&alertsToken=<token>][&from=beginning][&trail=200]
 *
 * It opens the WebSocket tap of the position stream (telemetry `position` readings, or
 * derived records whose values carry `lat` and `lon`), draws each device as a dot with its
 * trail and label on an equirectangular projection auto-fitted to the data (wheel to zoom,
 * drag to pan, "fit" to return), and marks alerts from the optional alerts stream at the
 * alert's own `lat`/`lon` or at the last position of the device its key names.
 *
 * Written without template literals or `${` so it can live in a TypeScript raw string.
 */
export const MAP_PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src data:">
<meta name="referrer" content="no-referrer">
<title>Vigil live map</title>
<style>
  :root { --bg:#0e1419; --panel:#151d24; --line:#24313c; --text:#d5dde4; --dim:#7d8b97; --accent:#4fc3f7; --alert:#ff5252; }
  * { box-sizing: border-box; }
  html, body { margin:0; height:100%; background:var(--bg); color:var(--text); font:13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
  body { display:flex; }
  #map { flex:1; position:relative; overflow:hidden; cursor:grab; }
  #map.dragging { cursor:grabbing; }
  svg { display:block; width:100%; height:100%; }
  aside { width:300px; background:var(--panel); border-left:1px solid var(--line); display:flex; flex-direction:column; min-height:0; }
  aside section { padding:10px 14px; border-bottom:1px solid var(--line); }
  aside h1 { font-size:15px; margin:0 0 4px; letter-spacing:.04em; }
  aside h2 { font-size:11px; margin:0 0 6px; color:var(--dim); text-transform:uppercase; letter-spacing:.08em; font-weight:600; }
  .kv { display:grid; grid-template-columns:auto 1fr; gap:2px 10px; font-variant-numeric:tabular-nums; }
  .kv span:nth-child(odd) { color:var(--dim); }
  .status { display:inline-block; padding:1px 7px; border-radius:9px; font-size:11px; background:#333; }
  .status.live { background:#1b5e20; } .status.down { background:#7f1d1d; } .status.wait { background:#5d4a00; }
  .list { overflow:auto; flex:1; min-height:0; padding:0; }
  .list div { padding:3px 14px; display:flex; gap:8px; border-bottom:1px solid #1b252e; font-variant-numeric:tabular-nums; }
  .list .id { flex:1; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .list .age { color:var(--dim); }
  .alerts div { color:#ffb4b4; }
  .sw { display:inline-block; width:10px; height:10px; border-radius:50%; margin-right:4px; vertical-align:-1px; }
  #legend span { margin-right:10px; white-space:nowrap; }
  #help { position:absolute; inset:0; display:none; align-items:center; justify-content:center; }
  #help div { max-width:560px; background:var(--panel); border:1px solid var(--line); padding:18px 22px; border-radius:6px; }
  #help code { background:#0b1015; padding:1px 4px; border-radius:3px; word-break:break-all; }
  #tip { position:absolute; pointer-events:none; background:rgba(10,15,20,.92); border:1px solid var(--line); padding:6px 8px; border-radius:4px; display:none; white-space:pre; font-variant-numeric:tabular-nums; }
  #tools { position:absolute; top:10px; left:10px; display:flex; gap:6px; }
  button { background:var(--panel); color:var(--text); border:1px solid var(--line); border-radius:4px; padding:4px 10px; font:inherit; cursor:pointer; }
  button.on { border-color:var(--accent); color:var(--accent); }
  text { font:11px system-ui, "DejaVu Sans", sans-serif; }
  .grid { stroke:#1e2a34; stroke-width:1; }
  .gridlabel { fill:#4b5a66; font-size:10px; }
  .label { fill:#c7d2da; paint-order:stroke; stroke:#0e1419; stroke-width:3px; }
  .alertlabel { fill:#ffb4b4; paint-order:stroke; stroke:#0e1419; stroke-width:3px; font-weight:600; }
  @keyframes pulse { from { r:7; opacity:.9; } to { r:22; opacity:0; } }
  .pulse { fill:none; stroke:var(--alert); stroke-width:2; animation:pulse 1.6s ease-out infinite; }
</style>
</head>
<body>
<div id="map">
  <svg id="svg" xmlns="http://www.w3.org/2000/svg"></svg>
  <div id="tools"><button id="fit" class="on" title="fit the view to the data">fit</button><button id="trails" class="on" title="show trails">trails</button><button id="labels" class="on" title="show labels">labels</button></div>
  <div id="tip"></div>
  <div id="help"><div>
    <h1>Vigil live map</h1>
    <p>This page needs a stream and its tap token in the address, after <code>#</code> (the part browsers do not send to the server):</p>
    <p><code>/map#stream=telemetry.position&amp;token=&lt;token&gt;</code></p>
    <p>Get the token from the stream's key file: <code>vigil tap telemetry.position --token --key telemetry-position.key.json</code>.
       Optional: <code>&amp;alerts=&lt;stream&gt;&amp;alertsToken=&lt;token&gt;</code> for alert markers,
       <code>&amp;from=beginning</code> to replay what the bus still holds, <code>&amp;trail=200</code> points per trail.</p>
  </div></div>
</div>
<aside>
  <section><h1>VIGIL &middot; live map</h1><div id="streamname" style="color:var(--dim)"></div></section>
  <section class="kv">
    <span>position stream</span><span><span id="st-pos" class="status wait">connecting</span></span>
    <span>alerts stream</span><span><span id="st-alerts" class="status">off</span></span>
    <span>devices</span><span id="n-dev">0</span>
    <span>records</span><span id="n-rec">0</span>
    <span>rate</span><span id="n-rate">0 /s</span>
    <span>dropped (slow link)</span><span id="n-drop">0</span>
    <span>unreadable</span><span id="n-bad">0</span>
    <span>latest event</span><span id="t-last">&ndash;</span>
  </section>
  <section id="legend"></section>
  <section style="padding-bottom:4px"><h2>Alerts</h2></section>
  <div class="list alerts" id="alerts" style="flex:0 1 30%"></div>
  <section style="padding-bottom:4px"><h2>Devices</h2></section>
  <div class="list" id="devices"></div>
</aside>
<script>
(function () {
  'use strict';
  var params = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    if (!kv) return;
    var i = kv.indexOf('=');
    params[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
  });
  var STREAM = params.stream || 'telemetry.position';
  var TRAIL = Math.max(2, Math.min(5000, parseInt(params.trail, 10) || 200));
  var STALE_MS = 60000;
  var CLASSES = { veh: ['#4fc3f7', 'vehicle'], sol: ['#81c784', 'soldier'], ugs: ['#ffb74d', 'ground sensor'], uav: ['#ce93d8', 'UAV'] };
  var PALETTE = ['#4dd0e1', '#aed581', '#ffd54f', '#f06292', '#9575cd', '#4db6ac', '#ff8a65', '#90a4ae'];
  var devices = new Map();
  var alerts = [];
  var stats = { records: 0, dropped: 0, unreadable: 0, latest: 0, recent: [] };
  var view = { auto: true, cx: 0, cy: 0, scale: 1, k: 1 };
  var show = { trails: true, labels: true };
  var svg = document.getElementById('svg');
  var mapEl = document.getElementById('map');
  var tip = document.getElementById('tip');
  var $ = function (id) { return document.getElementById(id); };
  $('streamname').textContent = STREAM + (params.alerts ? '  +  ' + params.alerts : '');

  if (!params.token) { $('help').style.display = 'flex'; $('st-pos').textContent = 'no token'; $('st-pos').className = 'status down'; return; }

  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function colorOf(id) {
    var c = CLASSES[id.split(/[-_.]/)[0]];
    if (c) return c[0];
    var h = 0; for (var i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }
  function num(v) { return typeof v === 'number' && isFinite(v); }
  function fmtTime(ms) { return new Date(ms).toISOString().slice(11, 19) + 'Z'; }
  function age(ms) { var s = Math.max(0, Math.round(ms / 1000)); return s < 60 ? s + 's' : s < 3600 ? Math.floor(s / 60) + 'm' : Math.floor(s / 3600) + 'h'; }

  function place(id, lat, lon, t, info) {
    if (!num(lat) || !num(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) return;
    var d = devices.get(id);
    if (!d) { d = { id: id, pts: [], t: 0, info: {} }; devices.set(id, d); }
    // A revision or a late record must not move a device back in time: trails stay in event-time order.
    if (t >= d.t) { d.lat = lat; d.lon = lon; d.t = t; d.info = info; }
    d.pts.push([lon, lat, t]);
    if (d.pts.length > 1 && t < d.pts[d.pts.length - 2][2]) d.pts.sort(function (a, b) { return a[2] - b[2]; });
    if (d.pts.length > TRAIL) d.pts.splice(0, d.pts.length - TRAIL);
    if (t > stats.latest) stats.latest = t;
  }

  function onPosition(m) {
    var r = m.record;
    stats.records++; stats.recent.push(Date.now());
    if (r.type === 'telemetry') {
      if (r.kind !== 'position') return;
      r.readings.forEach(function (x) {
        place(r.deviceId, x.lat, x.lon, r.eventTimeMs + x.offsetMs, { kind: 'position', altM: x.altM, speedMps: x.speedMps, headingDeg: x.headingDeg, accuracyM: x.accuracyM, label: r.label.level });
      });
    } else if (r.type === 'derived') {
      var v = r.values;
      var info = { pipeline: r.pipeline, label: r.label.level };
      Object.keys(v).forEach(function (k) { if (k !== 'lat' && k !== 'lon') info[k] = v[k]; });
      place(r.key, v.lat, v.lon, r.windowEndMs, info);
    }
    schedule();
  }

  function onAlert(m) {
    var r = m.record, a;
    if (r.type === 'derived') {
      var v = r.values;
      var what = v.alert || v.event || v.type || v.detector || v.state || r.pipeline;
      a = { id: r.key, t: r.windowStartMs, text: String(what), lat: v.lat, lon: v.lon, rev: r.revision };
    } else {
      var x = r.readings[r.readings.length - 1];
      a = { id: r.deviceId, t: r.eventTimeMs + x.offsetMs, text: r.kind + (x.detection ? ' ' + x.detection : ''), lat: x.lat, lon: x.lon };
    }
    alerts.push(a);
    alerts.sort(function (p, q) { return q.t - p.t; });
    if (alerts.length > 200) alerts.length = 200;
    schedule();
  }

  function connect(stream, token, onRecord, statusEl) {
    var delay = 1000;
    var open = function () {
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/tap/' + encodeURIComponent(stream) +
        '?token=' + encodeURIComponent(token) + (params.from === 'beginning' ? '&from=beginning' : '');
      var ws = new WebSocket(url);
      var status = function (cls, text) { statusEl.className = 'status ' + cls; statusEl.textContent = text; };
      status('wait', 'connecting');
      ws.onopen = function () { delay = 1000; status('live', 'live'); };
      ws.onmessage = function (ev) {
        var m; try { m = JSON.parse(ev.data); } catch (e) { return; }
        if (m.type === 'record') onRecord(m);
        else if (m.type === 'dropped') { stats.dropped += m.count; schedule(); }
        else if (m.type === 'unreadable') { stats.unreadable++; schedule(); }
        else if (m.type === 'error') status('down', m.code.replace('VIGIL_E_', '').toLowerCase());
      };
      ws.onclose = function (ev) {
        // A refused upgrade (wrong token, unknown stream) shows as 1006 with no detail; say what to check.
        if (statusEl.textContent !== 'live' && ev.code === 1006) status('down', 'refused or unreachable');
        else if (ev.code !== 1011) status('down', 'disconnected');
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    };
    open();
  }

  // Rendering: at most ~5 times a second, whatever the record rate.
  var pending = false;
  function schedule() { if (!pending) { pending = true; setTimeout(function () { pending = false; render(); }, 200); } }

  function niceStep(span, n) {
    var raw = span / n, p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }

  function fit(w, h) {
    var minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
    var add = function (lat, lon) { if (!num(lat) || !num(lon)) return; if (lat < minLat) minLat = lat; if (lat > maxLat) maxLat = lat; if (lon < minLon) minLon = lon; if (lon > maxLon) maxLon = lon; };
    devices.forEach(function (d) { (show.trails ? d.pts : [[d.lon, d.lat]]).forEach(function (p) { add(p[1], p[0]); }); });
    alerts.forEach(function (a) { add(a.lat, a.lon); });
    if (minLat === Infinity) return false;
    var midLat = (minLat + maxLat) / 2;
    view.k = Math.max(0.05, Math.cos(midLat * Math.PI / 180));
    var dx = Math.max((maxLon - minLon) * view.k, 0.002), dy = Math.max(maxLat - minLat, 0.002);
    view.cx = (minLon + maxLon) / 2; view.cy = midLat;
    view.scale = Math.min((w - 80) / dx, (h - 80) / dy);
    return true;
  }

  function render() {
    var w = mapEl.clientWidth, h = mapEl.clientHeight;
    if (view.auto && !fit(w, h)) { svg.innerHTML = '<text x="' + (w / 2) + '" y="' + (h / 2) + '" text-anchor="middle" fill="#7d8b97">waiting for positions on ' + esc(STREAM) + '&hellip;</text>'; updatePanel(); return; }
    var X = function (lon) { return w / 2 + (lon - view.cx) * view.k * view.scale; };
    var Y = function (lat) { return h / 2 - (lat - view.cy) * view.scale; };
    var lonAt = function (x) { return view.cx + (x - w / 2) / (view.k * view.scale); };
    var latAt = function (y) { return view.cy - (y - h / 2) / view.scale; };
    var out = [];
    // Graticule: about six lines across, at round numbers of degrees.
    var step = niceStep((latAt(0) - latAt(h)), 6), dec = Math.max(0, -Math.floor(Math.log(step) / Math.LN10) + (step < 1 && String(step).indexOf('5') >= 0 ? 1 : 0));
    for (var la = Math.ceil(latAt(h) / step) * step; la <= latAt(0); la += step) {
      var y = Y(la).toFixed(1);
      out.push('<line class="grid" x1="0" x2="' + w + '" y1="' + y + '" y2="' + y + '"/><text class="gridlabel" x="4" y="' + (y - 3) + '">' + Math.abs(la).toFixed(dec) + (la >= 0 ? '°N' : '°S') + '</text>');
    }
    for (var lo = Math.ceil(lonAt(0) / step) * step; lo <= lonAt(w); lo += step) {
      var x = X(lo).toFixed(1);
      out.push('<line class="grid" y1="0" y2="' + h + '" x1="' + x + '" x2="' + x + '"/><text class="gridlabel" y="' + (h - 6) + '" x="' + (+x + 3) + '">' + Math.abs(lo).toFixed(dec) + (lo >= 0 ? '°E' : '°W') + '</text>');
    }
    // Scale bar: a round distance near 120 px (1° of latitude ≈ 111.32 km).
    var mPerPx = 111320 / view.scale, target = niceStep(mPerPx * 120, 1), px = target / mPerPx;
    out.push('<g transform="translate(' + (w - px - 24) + ',' + (h - 24) + ')"><rect x="-6" y="-16" width="' + (px + 12) + '" height="26" fill="#0e1419" opacity=".7"/><line x1="0" x2="' + px + '" y1="4" y2="4" stroke="#c7d2da" stroke-width="2"/><line x1="0" x2="0" y1="0" y2="8" stroke="#c7d2da"/><line x1="' + px + '" x2="' + px + '" y1="0" y2="8" stroke="#c7d2da"/><text x="' + (px / 2) + '" y="-4" text-anchor="middle" fill="#c7d2da">' + (target >= 1000 ? target / 1000 + ' km' : target + ' m') + '</text></g>');
    var latest = stats.latest;
    var ids = Array.from(devices.keys()).sort();
    if (show.trails) ids.forEach(function (id) {
      var d = devices.get(id);
      if (d.pts.length < 2) return;
      var pts = d.pts.map(function (p) { return X(p[0]).toFixed(1) + ',' + Y(p[1]).toFixed(1); }).join(' ');
      out.push('<polyline points="' + pts + '" fill="none" stroke="' + colorOf(id) + '" stroke-width="1.6" stroke-opacity="' + (latest - d.t > STALE_MS ? 0.15 : 0.45) + '" stroke-linejoin="round"/>');
    });
    var labels = [];
    ids.forEach(function (id) {
      var d = devices.get(id), x = X(d.lon), y = Y(d.lat), c = colorOf(id), stale = latest - d.t > STALE_MS;
      labels.push({ id: id, x: x + 8, y: y - 7, t: d.t, more: 0 });
      out.push('<g data-id="' + esc(id) + '" opacity="' + (stale ? 0.4 : 1) + '">');
      if (num(d.info.headingDeg) && num(d.info.speedMps) && d.info.speedMps > 0.3) {
        var a = d.info.headingDeg * Math.PI / 180;
        out.push('<line x1="' + x.toFixed(1) + '" y1="' + y.toFixed(1) + '" x2="' + (x + 14 * Math.sin(a)).toFixed(1) + '" y2="' + (y - 14 * Math.cos(a)).toFixed(1) + '" stroke="' + c + '" stroke-width="2"/>');
      }
      out.push('<circle cx="' + x.toFixed(1) + '" cy="' + y.toFixed(1) + '" r="5.5" fill="' + c + '" stroke="#0e1419" stroke-width="1.5"/>');
      out.push('</g>');
    });
    // Labels that would overlap are folded into the one already placed ("sol-003 +7"): a
    // patrol of eight a few metres apart stays readable. Freshest devices are labelled first.
    if (show.labels) {
      var placed = [];
      labels.sort(function (a, b) { return b.t - a.t; }).forEach(function (l) {
        l.w = l.id.length * 6.6 + 22;
        var hit = placed.find(function (p) { return l.x < p.x + p.w && p.x < l.x + l.w && l.y - 12 < p.y && p.y - 12 < l.y; });
        if (hit) hit.more++; else placed.push(l);
      });
      placed.forEach(function (l) {
        out.push('<text class="label" x="' + l.x.toFixed(1) + '" y="' + l.y.toFixed(1) + '">' + esc(l.id) + (l.more ? ' +' + l.more : '') + '</text>');
      });
    }
    alerts.slice(0, 30).forEach(function (a, i) {
      var lat = a.lat, lon = a.lon, d = devices.get(a.id);
      if (!num(lat) && d) { lat = d.lat; lon = d.lon; }
      if (!num(lat)) return;
      var x = X(lon).toFixed(1), y = Y(lat).toFixed(1), recent = latest - a.t < STALE_MS || i < 3;
      if (recent) out.push('<circle class="pulse" cx="' + x + '" cy="' + y + '" r="7"/>');
      out.push('<path d="M' + x + ',' + (y - 11) + ' l7,12 h-14 z" fill="#ff5252" stroke="#0e1419" stroke-width="1.2" transform="translate(0,-6)"/><text x="' + x + '" y="' + (y - 8) + '" text-anchor="middle" fill="#0e1419" font-weight="700" font-size="9">!</text>');
      if (recent && show.labels) out.push('<text class="alertlabel" x="' + (+x + 10) + '" y="' + (+y + 14) + '">' + esc(a.text) + '</text>');
    });
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.innerHTML = out.join('');
    updatePanel();
  }

  function updatePanel() {
    var now = Date.now();
    stats.recent = stats.recent.filter(function (t) { return now - t < 5000; });
    $('n-dev').textContent = devices.size;
    $('n-rec').textContent = stats.records;
    $('n-rate').textContent = (stats.recent.length / 5).toFixed(1) + ' /s';
    $('n-drop').textContent = stats.dropped;
    $('n-bad').textContent = stats.unreadable;
    $('t-last').textContent = stats.latest ? new Date(stats.latest).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '–';
    var latest = stats.latest;
    $('devices').innerHTML = Array.from(devices.keys()).sort().map(function (id) {
      var d = devices.get(id);
      return '<div><span class="id"><span class="sw" style="background:' + colorOf(id) + '"></span>' + esc(id) + '</span><span>' + d.lat.toFixed(4) + ', ' + d.lon.toFixed(4) + '</span><span class="age">' + age(latest - d.t) + '</span></div>';
    }).join('');
    $('alerts').innerHTML = alerts.length ? alerts.slice(0, 50).map(function (a) {
      return '<div><span class="age">' + fmtTime(a.t) + '</span><span class="id">' + esc(a.id) + ' &middot; ' + esc(a.text) + (a.rev ? ' (rev ' + a.rev + ')' : '') + '</span></div>';
    }).join('') : '<div style="color:var(--dim)">' + (params.alerts ? 'none yet' : 'no alerts stream in the address') + '</div>';
    var seen = {};
    devices.forEach(function (d, id) { var p = id.split(/[-_.]/)[0]; seen[CLASSES[p] ? p : '?'] = true; });
    $('legend').innerHTML = Object.keys(CLASSES).filter(function (p) { return seen[p]; }).map(function (p) {
      return '<span><span class="sw" style="background:' + CLASSES[p][0] + '"></span>' + CLASSES[p][1] + '</span>';
    }).join('') + (seen['?'] ? '<span><span class="sw" style="background:#90a4ae"></span>other</span>' : '') + (alerts.length ? '<span><span class="sw" style="background:#ff5252"></span>alert</span>' : '');
  }

  // Interaction: wheel zooms about the cursor, drag pans; either leaves auto-fit until "fit".
  function manual() { view.auto = false; $('fit').className = ''; }
  mapEl.addEventListener('wheel', function (e) {
    e.preventDefault(); manual();
    var r = mapEl.getBoundingClientRect(), w = r.width, h = r.height, mx = e.clientX - r.left, my = e.clientY - r.top;
    var lon = view.cx + (mx - w / 2) / (view.k * view.scale), lat = view.cy - (my - h / 2) / view.scale;
    view.scale *= e.deltaY < 0 ? 1.25 : 0.8;
    view.cx = lon - (mx - w / 2) / (view.k * view.scale); view.cy = lat + (my - h / 2) / view.scale;
    render();
  }, { passive: false });
  var drag = null;
  mapEl.addEventListener('mousedown', function (e) { if (e.target.tagName === 'BUTTON') return; drag = { x: e.clientX, y: e.clientY, cx: view.cx, cy: view.cy }; mapEl.className = 'dragging'; });
  window.addEventListener('mouseup', function () { drag = null; mapEl.className = ''; });
  window.addEventListener('mousemove', function (e) {
    if (drag) { manual(); view.cx = drag.cx - (e.clientX - drag.x) / (view.k * view.scale); view.cy = drag.cy + (e.clientY - drag.y) / view.scale; render(); return; }
    var g = e.target.closest && e.target.closest('g[data-id]');
    if (!g) { tip.style.display = 'none'; return; }
    var d = devices.get(g.getAttribute('data-id'));
    var lines = [d.id, d.lat.toFixed(5) + ', ' + d.lon.toFixed(5), new Date(d.t).toISOString().replace('T', ' ').slice(0, 23) + 'Z'];
    Object.keys(d.info).forEach(function (k) { var v = d.info[k]; if (v !== null && v !== undefined) lines.push(k + ': ' + (typeof v === 'number' ? +v.toFixed(3) : v)); });
    tip.textContent = lines.join('\n');
    var r = mapEl.getBoundingClientRect();
    tip.style.left = (e.clientX - r.left + 14) + 'px'; tip.style.top = (e.clientY - r.top + 10) + 'px'; tip.style.display = 'block';
  });
  $('fit').onclick = function () { view.auto = true; this.className = 'on'; render(); };
  $('trails').onclick = function () { show.trails = !show.trails; this.className = show.trails ? 'on' : ''; render(); };
  $('labels').onclick = function () { show.labels = !show.labels; this.className = show.labels ? 'on' : ''; render(); };
  window.addEventListener('resize', schedule);
  setInterval(updatePanel, 1000);

  connect(STREAM, params.token, onPosition, $('st-pos'));
  if (params.alerts && params.alertsToken) connect(params.alerts, params.alertsToken, onAlert, $('st-alerts'));
  render();
})();
</script>
</body>
</html>
`;
