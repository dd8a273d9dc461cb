/* global window, document, location, WebSocket, fetch, requestAnimationFrame, performance, setTimeout, setInterval, L, ms, mgrs */
/**
 * Vigil live map (served at /map with Leaflet, milsymbol and mgrs from this server).
 *
 * Settings come from the URL fragment, which browsers never send to the server, so tap tokens
 * stay out of server logs and proxies:
 *
 *   /map#stream=telemetry.position&token=<tap token>
 *        [&alerts=derived.geofence,derived.vitals&alertsToken=<token>,<token>]
 *        [&history=60 | &from=beginning | &from=latest] [&stale=30] [&trailMin=10]
 *
 * It taps the position stream (telemetry `position` readings, or derived records whose values
 * carry lat/lon, latDeg/lonDeg or meanLatDeg/meanLonDeg) and any number of alert streams over
 * the WebSocket tap, from what the bus holds of the last `history` minutes (default 60; all it
 * holds with `from=beginning`, nothing before now with `from=latest`). Memory is
 * bounded whatever arrives: at most LIMITS.devices devices (least recently heard dropped),
 * LIMITS.points fixes per device over the last hour (one per LIMITS.stepMs), LIMITS.alerts
 * alerts (oldest dropped); every drop is counted on the page. A malformed message is counted
 * and shown, never thrown.
 *
 * The pure functions at the end are exported for the unit tests when loaded by Node.
 */
(function () {
  'use strict';

  var LIMITS = { devices: 20000, points: 720, stepMs: 5000, historyMs: 3600000, alerts: 2000, alertMarkers: 300, listRows: 150, latencySamples: 4096 };

  function parseHash(hash) {
    var params = {};
    String(hash || '').replace(/^#/, '').split('&').forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf('=');
      try {
        params[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
      } catch {
        /* a malformed escape: the parameter is ignored */
      }
    });
    return params;
  }

  function num(v) { return typeof v === 'number' && isFinite(v); }
  function validLatLon(lat, lon) { return num(lat) && num(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180; }

  /** Position fixes in a tapped record: [{ id, t, lat, lon, info }], or null when it is not a position record. */
  function positionsOf(r) {
    if (!r || typeof r !== 'object') return null;
    if (r.type === 'telemetry') {
      if (r.kind !== 'position' || !Array.isArray(r.readings) || typeof r.deviceId !== 'string') return null;
      var out = [];
      r.readings.forEach(function (x) {
        if (x && validLatLon(x.lat, x.lon) && num(r.eventTimeMs)) {
          out.push({ id: r.deviceId, t: r.eventTimeMs + (num(x.offsetMs) ? x.offsetMs : 0), lat: x.lat, lon: x.lon, info: { speedMps: x.speedMps, headingDeg: x.headingDeg, altM: x.altM, accuracyM: x.accuracyM, label: r.label && r.label.level } });
        }
      });
      return out;
    }
    if (r.type === 'derived' && r.values && typeof r.key === 'string') {
      var v = r.values;
      var lat = num(v.lat) ? v.lat : num(v.latDeg) ? v.latDeg : v.meanLatDeg;
      var lon = num(v.lon) ? v.lon : num(v.lonDeg) ? v.lonDeg : v.meanLonDeg;
      if (!validLatLon(lat, lon) || !num(r.windowEndMs)) return [];
      return [{ id: r.key, t: r.windowEndMs, lat: lat, lon: lon, info: { pipeline: r.pipeline, label: r.label && r.label.level } }];
    }
    return null;
  }

  /**
   * How serious an alert record is: critical (inside a no-go zone; a casualty condition
   * raised), warning (inside a restricted zone; any other alarm raised; a device gone
   * silent; an anomaly), info (exits, clears, returns).
   */
  function severityOf(pipeline, v) {
    if (v.zoneClass === 'no-go' && v.inside === true) return 'critical';
    if (pipeline === 'vitals' && v.alarm === true) return 'critical';
    if (v.zoneClass === 'restricted' && v.inside === true) return 'warning';
    if (v.alarm === true || v.silent === true || v.event === 'spike' || v.event === 'dip') return 'warning';
    return 'info';
  }

  /** An alert from a tapped record of an alert stream, or null for a record that is not one (a window of statistics). */
  function alertOf(r, stream) {
    if (!r || r.type !== 'derived' || !r.values || typeof r.key !== 'string' || !num(r.windowStartMs)) return null;
    var v = r.values;
    var isEvent = r.windowStartMs === r.windowEndMs && ('event' in v || 'state' in v || 'alarm' in v);
    if (!isEvent) return null;
    var what = [v.condition || v.signal || v.zoneName || v.zone, v.event || v.state].filter(function (x) { return x !== undefined && x !== null && x !== ''; }).join(' ');
    var lat = num(v.lat) ? v.lat : v.latDeg, lon = num(v.lon) ? v.lon : v.lonDeg;
    return {
      stream: stream, pipeline: String(r.pipeline), key: r.key, device: r.key.split('/')[0], t: r.windowStartMs,
      sev: severityOf(r.pipeline, v), text: String(r.pipeline) + ': ' + (what || r.key), rev: r.revision || 0,
      lat: validLatLon(lat, lon) ? lat : null, lon: validLatLon(lat, lon) ? lon : null,
    };
  }

  /** `32UNB 12345 67890` from mgrs's `32UNB1234567890`. */
  function formatMgrs(s) {
    var m = /^(\d{1,2}[A-Z])([A-Z]{2})(\d*)$/.exec(String(s));
    if (!m) return String(s);
    var h = m[3].length / 2;
    return m[1] + m[2] + (h ? ' ' + m[3].slice(0, h) + ' ' + m[3].slice(h) : '');
  }

  /** SIDC for a device id from the symbol table (`/map/config.json`): its prefix's row, friendly. */
  function sidcOf(id, symbols, generic) {
    var prefix = String(id).split(/[-_.]/)[0];
    var row = null;
    for (var i = 0; i < symbols.length; i++) if (symbols[i].prefix === prefix) row = symbols[i];
    var sidc = (row || generic).sidc;
    return sidc[0] + 'F' + sidc.slice(2);
  }

  /** A device's fixes over the last hour: a ring of at most `cap` points, one per `stepMs`. */
  function History(cap) {
    this.cap = cap;
    this.t = new Float64Array(cap);
    this.lat = new Float64Array(cap);
    this.lon = new Float64Array(cap);
    this.start = 0;
    this.len = 0;
  }
  History.prototype.at = function (i) { return (this.start + i) % this.cap; };
  History.prototype.lastT = function () { return this.len ? this.t[this.at(this.len - 1)] : -Infinity; };
  /** Adds a fix; returns false when it was older than the newest kept (late: the trail stays in time order). */
  History.prototype.push = function (t, lat, lon, stepMs, cutoff) {
    while (this.len && this.t[this.start] < cutoff) { this.start = (this.start + 1) % this.cap; this.len--; }
    var last = this.lastT();
    if (t < last) return false;
    if (this.len && t - last < stepMs && this.len > 1 && t - this.t[this.at(this.len - 2)] < stepMs) {
      var j = this.at(this.len - 1); // within the step: the newest point moves
      this.t[j] = t; this.lat[j] = lat; this.lon[j] = lon;
      return true;
    }
    if (this.len === this.cap) { this.start = (this.start + 1) % this.cap; this.len--; }
    var k = this.at(this.len);
    this.t[k] = t; this.lat[k] = lat; this.lon[k] = lon; this.len++;
    return true;
  };
  /** Index (0..len-1) of the newest point at or before `t`, or -1. */
  History.prototype.indexAt = function (t) {
    var lo = 0, hi = this.len - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (this.t[this.at(mid)] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };
  /** [[lat, lon], …] between `from` and `to`. */
  History.prototype.between = function (from, to) {
    var out = [];
    for (var i = 0; i < this.len; i++) {
      var k = this.at(i);
      if (this.t[k] >= from && this.t[k] <= to) out.push([this.lat[k], this.lon[k]]);
    }
    return out;
  };

  var pure = { parseHash: parseHash, positionsOf: positionsOf, alertOf: alertOf, severityOf: severityOf, formatMgrs: formatMgrs, sidcOf: sidcOf, History: History, LIMITS: LIMITS };
  if (typeof module !== 'undefined' && module.exports) module.exports = pure;
  if (typeof document === 'undefined') return;

  // ------------------------------------------------------------------ the page
  var params = parseHash(location.hash);
  var STREAM = params.stream || 'telemetry.position';
  var TOKEN = params.token || '';
  // Where each stream starts: by default the last `history` minutes the bus holds (bounded: an
  // hour of a large fleet is already millions of records); from=beginning all of it; from=latest now.
  var FROM = params.from === 'latest' || params.from === 'beginning' ? params.from : 'history';
  var HISTORY_MS = Math.max(1, parseFloat(params.history) || 60) * 60000;
  var STALE_MS = Math.max(1, parseFloat(params.stale) || 30) * 1000;
  var TRAIL_MS = Math.max(0.5, parseFloat(params.trailMin) || 10) * 60000;
  var alertStreams = (params.alerts || '').split(',').filter(Boolean);
  var alertTokens = (params.alertsToken || '').split(',');
  var $ = function (id) { return document.getElementById(id); };

  var devices = new Map();
  var alerts = [];
  var streams = new Map();
  var stats = { records: 0, rate: [0, 0, 0, 0, 0, 0], serverDropped: 0, pageDropped: 0, malformed: 0, latest: 0, lastProblem: '' };
  var latencies = new Float64Array(LIMITS.latencySamples), nLatency = 0;
  var fps = { frames: 0, since: performance.now(), value: 0, longFrames: 0, last: performance.now() };
  var view = { live: true, t: 0, autoFit: true, lastFit: 0 };
  var dirty = new Set(), alertsDirty = true, timeDirty = false, pending = false, lastRender = 0;
  var symbols = [], generic = { sidc: 'S*GP-----------', label: 'other device' };
  var symbolCache = new Map();

  $('streamname').textContent = [STREAM].concat(alertStreams).join(' + ');
  if (!TOKEN) {
    $('help').hidden = false;
    return;
  }

  // ------------------------------------------------------------------ map
  var map = L.map('map', { preferCanvas: true, zoomSnap: 0.5, zoomControl: true, attributionControl: true, minZoom: 2, maxZoom: 19, worldCopyJump: true }).setView([51.2, 9.5], 12);
  map.attributionControl.setPrefix('Leaflet');
  L.control.scale({ imperial: false }).addTo(map);
  var svg = L.svg({ padding: 0.2 });
  var gridLayer = L.layerGroup().addTo(map);
  var zoneLayer = L.layerGroup().addTo(map);
  var trailLayer = L.layerGroup().addTo(map);
  var alertLayer = L.layerGroup().addTo(map);
  L.control.layers(null, { grid: gridLayer, zones: zoneLayer, trails: trailLayer, alerts: alertLayer }, { collapsed: true }).addTo(map);
  var FitControl = L.Control.extend({
    options: { position: 'topleft' },
    onAdd: function () {
      var button = L.DomUtil.create('button', 'fit-button');
      button.type = 'button';
      button.id = 'fit';
      button.textContent = 'fit';
      button.title = 'fit the view to the devices and zones, and keep it fitted';
      L.DomEvent.disableClickPropagation(button);
      L.DomEvent.on(button, 'click', function () { view.autoFit = true; fit(true); });
      return button;
    },
  });
  new FitControl().addTo(map);
  var stopAutoFit = function () { view.autoFit = false; };
  map.getContainer().addEventListener('wheel', stopAutoFit, { passive: true });
  map.on('dragstart', stopAutoFit);

  function niceStep(span) {
    var raw = span / 6, p = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }
  function drawGrid() {
    gridLayer.clearLayers();
    var b = map.getBounds(), step = niceStep(b.getNorth() - b.getSouth());
    var dec = Math.max(0, Math.ceil(-Math.log(step) / Math.LN10));
    var style = { color: '#2b3a46', weight: 1, interactive: false };
    for (var la = Math.ceil(b.getSouth() / step) * step; la <= b.getNorth(); la += step) {
      L.polyline([[la, b.getWest()], [la, b.getEast()]], style).addTo(gridLayer);
      L.marker([la, b.getWest()], { interactive: false, icon: L.divIcon({ className: 'grid-label', html: Math.abs(la).toFixed(dec) + (la >= 0 ? '°N' : '°S'), iconSize: null, iconAnchor: [-4, 12] }) }).addTo(gridLayer);
    }
    for (var lo = Math.ceil(b.getWest() / step) * step; lo <= b.getEast(); lo += step) {
      L.polyline([[b.getSouth(), lo], [b.getNorth(), lo]], style).addTo(gridLayer);
      L.marker([b.getNorth(), lo], { interactive: false, icon: L.divIcon({ className: 'grid-label', html: Math.abs(lo).toFixed(dec) + (lo >= 0 ? '°E' : '°W'), iconSize: null, iconAnchor: [-3, -4] }) }).addTo(gridLayer);
    }
  }

  function mgrsOf(lat, lon, digits) {
    try {
      return formatMgrs(mgrs.forward([lon, lat], digits || 5));
    } catch {
      return 'outside MGRS (' + lat.toFixed(4) + ', ' + lon.toFixed(4) + ')';
    }
  }
  map.on('mousemove', function (e) { $('pointer').textContent = 'MGRS ' + mgrsOf(e.latlng.lat, e.latlng.lng); });

  function fmtTime(ms) { return new Date(ms).toISOString().slice(11, 19) + 'Z'; }
  function age(ms) { var s = Math.max(0, Math.round(ms / 1000)); return s < 60 ? s + 's' : s < 3600 ? Math.floor(s / 60) + 'm' : Math.floor(s / 3600) + 'h'; }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }

  // ------------------------------------------------------------------ devices
  /** A symbol drawn once per SIDC (milsymbol), then stamped onto the canvas for every device that has it. */
  function symbolOf(sidc) {
    var img = symbolCache.get(sidc);
    if (!img) {
      var sym = new ms.Symbol(sidc, { size: 22 });
      var a = sym.getAnchor(), s = sym.getSize(), ratio = window.devicePixelRatio || 1;
      img = { canvas: sym.asCanvas(ratio), w: s.width, h: s.height, ax: a.x, ay: a.y, url: sym.toDataURL() };
      symbolCache.set(sidc, img);
    }
    return img;
  }

  /**
   * Devices are painted on one canvas, not one DOM element each: thousands of moving symbols
   * then cost one redraw per frame instead of thousands of style changes. What the last frame
   * painted is kept (`drawn`) for clicks and for the tests.
   */
  var SymbolLayer = L.Layer.extend({
    onAdd: function () {
      this._canvas = L.DomUtil.create('canvas', 'vigil-symbols leaflet-zoom-hide');
      this.getPane('markerPane').appendChild(this._canvas);
      this.drawn = [];
      this._reset();
    },
    onRemove: function () { L.DomUtil.remove(this._canvas); this.drawn = []; },
    getEvents: function () { return { moveend: this._reset, zoomend: this._reset, resize: this._reset }; },
    _reset: function () {
      var size = this._map.getSize(), ratio = window.devicePixelRatio || 1;
      this._topLeft = this._map.containerPointToLayerPoint([0, 0]);
      L.DomUtil.setPosition(this._canvas, this._topLeft);
      this._canvas.width = size.x * ratio; this._canvas.height = size.y * ratio;
      this._canvas.style.width = size.x + 'px'; this._canvas.style.height = size.y + 'px';
      this._size = size;
      this._draw();
    },
    redraw: function () { if (this._map && !this._frame) this._frame = L.Util.requestAnimFrame(this._draw, this); },
    _draw: function () {
      this._frame = null;
      if (!this._map) return;
      var ctx = this._canvas.getContext('2d'), ratio = window.devicePixelRatio || 1, map = this._map, tl = this._topLeft, size = this._size;
      var labels = map.getZoom() >= 15;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
      var drawn = [];
      devices.forEach(function (d) {
        if (!d.visible) return;
        var p = map.latLngToLayerPoint([d.shownLat, d.shownLon]);
        var x = p.x - tl.x, y = p.y - tl.y;
        if (x < -40 || y < -40 || x > size.x + 40 || y > size.y + 40) return;
        var img = symbolOf(d.sidc);
        ctx.globalAlpha = d.stale ? 0.45 : 1;
        ctx.drawImage(img.canvas, x - img.ax, y - img.ay, img.w, img.h);
        if (labels) {
          ctx.lineWidth = 3; ctx.strokeStyle = '#0e1419'; ctx.fillStyle = '#d5dde4';
          ctx.strokeText(d.id, x - img.ax + img.w + 3, y + 4); ctx.fillText(d.id, x - img.ax + img.w + 3, y + 4);
        }
        drawn.push({ id: d.id, sidc: d.sidc, x: x, y: y, x0: x - img.ax, y0: y - img.ay, x1: x - img.ax + img.w, y1: y - img.ay + img.h });
      });
      ctx.globalAlpha = 1;
      this.drawn = drawn;
    },
    /** The device painted under a container point, the topmost first. */
    hit: function (pt) {
      for (var i = this.drawn.length - 1; i >= 0; i--) {
        var b = this.drawn[i];
        if (pt.x >= b.x0 - 2 && pt.x <= b.x1 + 2 && pt.y >= b.y0 - 2 && pt.y <= b.y1 + 2) return devices.get(b.id);
      }
      return null;
    },
  });
  var symbolLayer = new SymbolLayer().addTo(map);
  var devicePopup = L.popup({ autoPan: true });
  function openDevice(d) {
    if (d && d.shownLat !== undefined) devicePopup.setLatLng([d.shownLat, d.shownLon]).setContent(popupOf(d)).openOn(map);
  }
  map.on('click', function (e) { openDevice(symbolLayer.hit(e.containerPoint)); });
  map.on('mousemove', function (e) { map.getContainer().style.cursor = symbolLayer.hit(e.containerPoint) ? 'pointer' : ''; });

  function evictOldestDevice() {
    var oldest = null;
    devices.forEach(function (d) { if (!oldest || d.t < oldest.t) oldest = d; });
    if (!oldest) return;
    if (oldest.trail) trailLayer.removeLayer(oldest.trail);
    devices.delete(oldest.id);
    dirty.delete(oldest.id);
    stats.pageDropped++;
  }

  function place(p, busTs) {
    var d = devices.get(p.id);
    if (!d) {
      if (devices.size >= LIMITS.devices) evictOldestDevice();
      d = { id: p.id, sidc: sidcOf(p.id, symbols, generic), t: -Infinity, lat: 0, lon: 0, info: {}, hist: new History(LIMITS.points), visible: false, trail: null, busTs: 0, stale: false };
      devices.set(p.id, d);
    }
    if (p.t > stats.latest) stats.latest = p.t;
    d.hist.push(p.t, p.lat, p.lon, LIMITS.stepMs, stats.latest - LIMITS.historyMs);
    // A revision or a late record never moves a device back in time.
    if (p.t >= d.t) { d.t = p.t; d.lat = p.lat; d.lon = p.lon; d.info = p.info; d.busTs = busTs; }
    dirty.add(d.id);
  }

  function popupOf(d) {
    var rows = [d.id + '  ' + d.sidc, 'MGRS ' + mgrsOf(d.shownLat, d.shownLon), d.shownLat.toFixed(5) + ', ' + d.shownLon.toFixed(5), new Date(d.shownT).toISOString().replace('T', ' ').slice(0, 19) + 'Z (' + age(stats.latest - d.shownT) + ' before latest)'];
    Object.keys(d.info).forEach(function (k) { var v = d.info[k]; if (v !== null && v !== undefined) rows.push(k + ': ' + (typeof v === 'number' ? +v.toFixed(3) : v)); });
    return esc(rows.join('\n'));
  }

  function showDevice(d, lat, lon, t) {
    d.shownLat = lat; d.shownLon = lon; d.shownT = t;
    d.visible = true;
    // Trails change slowly: redrawn at most every 2 s per device while live (thousands of devices stay cheap).
    var nowMs = performance.now();
    if (view.live && d.trailAt && nowMs - d.trailAt < 2000) return;
    d.trailAt = nowMs;
    var pts = d.hist.between(t - TRAIL_MS, t);
    if (pts.length > 1) {
      if (!d.trail) d.trail = L.polyline(pts, { color: '#4fc3f7', weight: 1.5, opacity: 0.5, interactive: false }).addTo(trailLayer);
      else d.trail.setLatLngs(pts);
    } else if (d.trail) d.trail.setLatLngs([]);
  }

  function hideDevice(d) {
    d.visible = false;
    if (d.trail) d.trail.setLatLngs([]);
  }

  // ------------------------------------------------------------------ rendering
  function schedule() {
    if (pending) return;
    pending = true;
    var wait = Math.max(0, 200 - (performance.now() - lastRender));
    setTimeout(function () { requestAnimationFrame(render); }, wait);
  }

  function render() {
    pending = false;
    lastRender = performance.now();
    var now = Date.now();
    var T = view.live ? Infinity : view.t;
    if (view.live) {
      dirty.forEach(function (id) {
        var d = devices.get(id);
        if (!d) return;
        showDevice(d, d.lat, d.lon, d.t);
        if (d.busTs) { latencies[nLatency % LIMITS.latencySamples] = now - d.busTs; nLatency++; d.busTs = 0; }
      });
    } else if (timeDirty || dirty.size) {
      devices.forEach(function (d) {
        var i = d.hist.indexAt(T);
        if (i < 0) hideDevice(d);
        else { var k = d.hist.at(i); showDevice(d, d.hist.lat[k], d.hist.lon[k], d.hist.t[k]); }
      });
    }
    dirty.clear();
    symbolLayer.redraw();
    if (alertsDirty || timeDirty) drawAlerts(T);
    timeDirty = false;
    if (view.autoFit && devices.size && performance.now() - view.lastFit > 2000) fit();
  }

  /** Keeps the view fitted to the devices and zones until the analyst moves it; moves only when the fitted view would differ (a move redraws everything). */
  function fit(force) {
    var b = L.latLngBounds([]);
    devices.forEach(function (d) { if (d.t > -Infinity) b.extend([d.lat, d.lon]); });
    zoneLayer.eachLayer(function (z) { if (z.getBounds) b.extend(z.getBounds()); });
    view.lastFit = performance.now();
    if (!b.isValid()) return;
    var target = b.pad(0.1), zoom = Math.min(map.getBoundsZoom(target), 16), centre = target.getCenter();
    if (force || zoom !== map.getZoom() || map.latLngToContainerPoint(centre).distanceTo(map.getSize().divideBy(2)) > 40) map.setView(centre, zoom, { animate: false });
  }

  // ------------------------------------------------------------------ alerts
  function alertPosition(a) {
    if (a.lat !== null) return [a.lat, a.lon];
    var d = devices.get(a.device);
    if (!d) return null;
    var i = d.hist.indexAt(a.t);
    if (i >= 0) { var k = d.hist.at(i); return [d.hist.lat[k], d.hist.lon[k]]; }
    return d.t > -Infinity ? [d.lat, d.lon] : null;
  }

  function addAlert(a) {
    // Sorted newest first; the oldest goes when full (counted).
    var i = 0;
    while (i < alerts.length && alerts[i].t > a.t) i++;
    alerts.splice(i, 0, a);
    if (alerts.length > LIMITS.alerts) { alerts.pop(); stats.pageDropped++; }
    alertsDirty = true;
  }

  function drawAlerts(T) {
    alertLayer.clearLayers();
    var n = 0;
    for (var i = 0; i < alerts.length && n < LIMITS.alertMarkers; i++) {
      var a = alerts[i];
      if (a.t > T) continue;
      var at = alertPosition(a);
      if (!at) continue;
      n++;
      var size = a.sev === 'critical' ? 14 : 10;
      var m = L.marker(at, { icon: L.divIcon({ className: 'vigil-alert ' + a.sev, iconSize: [size, size] }), title: a.text, zIndexOffset: a.sev === 'critical' ? 1000 : 500, keyboard: false });
      m.bindPopup(esc(a.device + '\n' + a.text + '\n' + fmtTime(a.t) + '  ' + a.stream + (a.rev ? ' (revision ' + a.rev + ')' : '')));
      m.addTo(alertLayer);
    }
    renderAlertList();
    alertsDirty = false;
  }

  function alertFilter() {
    var text = $('alert-filter').value.trim().toLowerCase();
    var sev = {};
    Array.prototype.forEach.call(document.querySelectorAll('input.sev'), function (c) { sev[c.value] = c.checked; });
    var T = view.live ? Infinity : view.t;
    return function (a) { return a.t <= T && sev[a.sev] && (!text || (a.device + ' ' + a.text + ' ' + a.stream).toLowerCase().indexOf(text) >= 0); };
  }

  function renderAlertList() {
    var keep = alertFilter();
    var shown = alerts.filter(keep);
    $('n-alerts').textContent = shown.length === alerts.length ? '(' + alerts.length + ')' : '(' + shown.length + ' of ' + alerts.length + ')';
    var rows = shown.slice(0, LIMITS.listRows).map(function (a) {
      return '<div class="alert sev-' + a.sev + '" data-idx="' + alerts.indexOf(a) + '" data-device="' + esc(a.device) + '" data-severity="' + a.sev + '"><span class="dim">' + fmtTime(a.t) + '</span><span class="id"><span class="badge ' + a.sev + '"></span>' + esc(a.device) + ' &middot; ' + esc(a.text) + (a.rev ? ' (rev ' + a.rev + ')' : '') + '</span></div>';
    });
    if (shown.length > LIMITS.listRows) rows.push('<div class="more">+' + (shown.length - LIMITS.listRows) + ' more: narrow the filter</div>');
    $('alerts').innerHTML = rows.length ? rows.join('') : '<div class="more">' + (alertStreams.length ? (alerts.length ? 'none match the filter' : 'none yet') : 'no alert stream in the address (&amp;alerts=…)') + '</div>';
  }

  function flyTo(latlng, d) {
    view.autoFit = false;
    map.flyTo(latlng, Math.max(map.getZoom(), 16), { duration: 0.6 });
    if (d) map.once('moveend', function () { openDevice(d); });
  }

  $('alerts').addEventListener('click', function (e) {
    var row = e.target.closest && e.target.closest('div[data-idx]');
    if (!row) return;
    var a = alerts[+row.getAttribute('data-idx')];
    if (!a) return;
    var at = alertPosition(a), d = devices.get(a.device);
    if (at) flyTo(at, d);
  });
  $('devices').addEventListener('click', function (e) {
    var row = e.target.closest && e.target.closest('div[data-device]');
    var d = row && devices.get(row.getAttribute('data-device'));
    if (d && d.shownLat !== undefined) flyTo([d.shownLat, d.shownLon], d);
  });
  $('alert-filter').addEventListener('input', renderAlertList);
  Array.prototype.forEach.call(document.querySelectorAll('input.sev'), function (c) { c.addEventListener('change', renderAlertList); });
  $('device-filter').addEventListener('input', renderDeviceList);

  // ------------------------------------------------------------------ time slider
  function setLive(on) {
    view.live = on;
    $('live').className = on ? 'on' : '';
    timeDirty = true;
    updateTimeLabel();
    if (on) devices.forEach(function (d) { dirty.add(d.id); });
    schedule();
  }
  $('time').addEventListener('input', function () {
    var v = +$('time').value;
    if (v >= 3600) { setLive(true); return; }
    view.t = stats.latest - (3600 - v) * 1000;
    setLive(false);
  });
  $('live').addEventListener('click', function () { $('time').value = 3600; setLive(true); });
  function updateTimeLabel() {
    if (view.live) { $('time-label').textContent = 'live' + (stats.latest ? ' · ' + fmtTime(stats.latest) : ''); return; }
    $('time').value = Math.max(0, 3600 - Math.round((stats.latest - view.t) / 1000));
    $('time-label').textContent = fmtTime(view.t) + ' (−' + age(stats.latest - view.t) + ')';
  }

  // ------------------------------------------------------------------ streams
  function streamState(name, kind) {
    var s = { name: name, kind: kind, status: 'connecting', detail: '', records: 0, lastAt: 0, seen: new Map(), serverDropped: 0 };
    streams.set(name, s);
    return s;
  }

  function problem(text) {
    stats.malformed++;
    stats.lastProblem = text;
  }

  function onMessage(s, data) {
    var m;
    try { m = JSON.parse(data); } catch { problem(s.name + ': a message that is not JSON'); return; }
    if (!m || typeof m !== 'object') { problem(s.name + ': a message that is not an object'); return; }
    if (m.type === 'record') {
      // A reconnect from the beginning replays what was already shown: skipped by offset.
      var key = String(m.partition), off = Number(m.offset);
      if (num(off) && s.seen.has(key) && off <= s.seen.get(key)) return;
      if (num(off)) s.seen.set(key, off);
      s.records++; s.lastAt = Date.now(); stats.records++; stats.rate[0]++;
      try {
        if (s.kind === 'position') {
          var ps = positionsOf(m.record);
          if (ps === null) { problem(s.name + ' offset ' + m.offset + ': not a position record'); return; }
          ps.forEach(function (p) { place(p, num(m.timestamp) ? m.timestamp : 0); });
        } else {
          var a = alertOf(m.record, s.name);
          if (a) addAlert(a);
        }
      } catch (e) {
        problem(s.name + ' offset ' + m.offset + ': ' + e.message);
      }
      schedule();
    } else if (m.type === 'dropped') {
      var c = num(m.count) ? m.count : 0;
      s.serverDropped += c; stats.serverDropped += c;
    } else if (m.type === 'unreadable') {
      problem(s.name + ': record at partition ' + m.partition + ' offset ' + m.offset + ' unreadable (' + m.code + ')');
    } else if (m.type === 'error') {
      s.status = 'down'; s.detail = String(m.code || 'error').replace('VIGIL_E_', '').toLowerCase() + ': ' + String(m.message || '');
    } else if (m.type === 'hello') {
      s.status = 'live'; s.detail = 'from ' + m.from;
    } else {
      problem(s.name + ': a message of unknown type ' + String(m.type).slice(0, 40));
    }
  }

  function connect(name, token, kind) {
    var s = streamState(name, kind);
    var delay = 1000;
    var open = function () {
      var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/tap/' + encodeURIComponent(name) + '?token=' + encodeURIComponent(token) + (FROM === 'beginning' ? '&from=beginning' : FROM === 'history' ? '&from=' + (Date.now() - HISTORY_MS) : '');
      var ws = new WebSocket(url), opened = false;
      if (s.status !== 'refused' && s.status !== 'missing') s.status = 'connecting';
      ws.onopen = function () { opened = true; delay = 1000; s.status = 'wait'; s.detail = 'positioning'; };
      ws.onmessage = function (ev) { onMessage(s, ev.data); };
      ws.onclose = function (ev) {
        if (!opened) {
          // The browser hides why an upgrade failed: ask the server whether it is there at all.
          fetch('/tap/' + encodeURIComponent(name), { cache: 'no-store', headers: { authorization: 'Bearer ' + token } }).then(function (r) {
            if (r.status === 401) { s.status = 'refused'; s.detail = 'refused: the token does not open this stream (wrong token, or a stream not offered here)'; } else if (r.status === 404) { s.status = 'missing'; s.detail = 'this stream does not exist on the bus yet (its pipeline has not run); retrying'; } else { s.status = 'down'; s.detail = 'the server refused the connection (' + r.status + '); retrying'; }
          }, function () { s.status = 'down'; s.detail = 'server unreachable; retrying'; }).then(updatePanel);
        } else if (s.status !== 'down') {
          s.status = 'down'; s.detail = 'disconnected (' + ev.code + '); reconnecting';
        }
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    };
    open();
  }

  // ------------------------------------------------------------------ panel (once a second)
  function renderDeviceList() {
    var text = $('device-filter').value.trim().toLowerCase();
    var ids = Array.from(devices.keys()).filter(function (id) { return !text || id.toLowerCase().indexOf(text) >= 0; }).sort();
    var rows = ids.slice(0, LIMITS.listRows).map(function (id) {
      var d = devices.get(id);
      if (d.shownLat === undefined) return '';
      return '<div data-device="' + esc(id) + '"><span class="id">' + esc(id) + '</span><span>' + mgrsOf(d.shownLat, d.shownLon, 4) + '</span><span class="dim">' + age(stats.latest - d.shownT) + '</span></div>';
    });
    if (ids.length > LIMITS.listRows) rows.push('<div class="more">+' + (ids.length - LIMITS.listRows) + ' more: filter to find one</div>');
    $('devices').innerHTML = rows.join('');
  }

  function updatePanel() {
    var now = Date.now();
    // Records per second over the last five whole seconds (this runs once a second).
    var rate = (stats.rate[1] + stats.rate[2] + stats.rate[3] + stats.rate[4] + stats.rate[5]) / 5;
    stats.rate.pop(); stats.rate.unshift(0);
    var banner = [];
    var html = [];
    streams.forEach(function (s) {
      var status = s.status, detail = s.detail;
      if (status === 'wait' && s.records) status = 'live';
      if (status === 'live' || status === 'wait') {
        var quiet = s.lastAt ? now - s.lastAt : Infinity;
        if (s.kind === 'position' && quiet > STALE_MS) {
          status = 'stale';
          detail = s.lastAt ? 'no record for ' + age(quiet) : 'no record yet';
          banner.push({ cls: 'stale', text: s.name + ' is stale: ' + detail + ' (positions may be out of date)' });
        } else detail = s.lastAt ? 'last record ' + age(quiet) + ' ago' : detail;
      }
      if (status === 'refused' || status === 'down' || status === 'missing') banner.push({ cls: '', text: s.name + ': ' + detail });
      html.push('<div class="stream" data-stream="' + esc(s.name) + '" data-status="' + status + '"><span class="name" title="' + esc(s.name) + '">' + esc(s.name) + '</span><span class="status ' + status + '">' + status + '</span></div><div class="dim" style="margin:0 0 4px">' + esc(detail) + (s.records ? ' · ' + s.records + ' records' : '') + '</div>');
    });
    $('streams').innerHTML = html.join('');
    $('n-dev').textContent = devices.size;
    $('n-rec').textContent = stats.records;
    $('n-rate').textContent = rate.toFixed(1) + ' /s';
    $('n-drop').textContent = stats.serverDropped + stats.pageDropped ? stats.serverDropped + ' by the server (slow link), ' + stats.pageDropped + ' by this page' : '0';
    $('n-bad').textContent = stats.malformed ? stats.malformed + ' — ' + stats.lastProblem : '0';
    $('t-last').textContent = stats.latest ? new Date(stats.latest).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '–';
    var b = $('banner');
    if (banner.length) { b.hidden = false; b.className = banner.some(function (x) { return !x.cls; }) ? '' : 'stale'; b.textContent = banner.map(function (x) { return x.text; }).join(' · '); } else b.hidden = true;
    // Devices not heard from for the stale time fade.
    devices.forEach(function (d) {
      var stale = stats.latest - (view.live ? d.t : d.shownT) > STALE_MS;
      if (stale !== d.stale) { d.stale = stale; symbolLayer.redraw(); }
    });
    if (view.autoFit && devices.size && performance.now() - view.lastFit > 2000) fit();
    updateTimeLabel();
    renderDeviceList();
    renderLegend();
  }

  var legendKey = '';
  function renderLegend() {
    var seen = {};
    devices.forEach(function (d) { seen[d.sidc] = true; });
    var key = Object.keys(seen).sort().join() + alertStreams.length;
    if (key === legendKey) return; // unchanged: no images decoded again
    legendKey = key;
    var rows = symbols.concat([generic]).filter(function (r) { return seen[sidcOf(r.prefix || '?', symbols, generic)]; });
    $('legend').innerHTML = rows.map(function (r) { return '<span><img alt="" src="' + symbolOf(sidcOf(r.prefix || '?', symbols, generic)).url + '">' + esc(r.label) + '</span>'; }).join('') +
      (alertStreams.length ? '<span><span class="badge critical"></span>critical</span><span><span class="badge warning"></span>warning</span><span><span class="badge info"></span>info</span>' : '');
  }

  // ------------------------------------------------------------------ frame rate (for the panel and tests)
  (function tick() {
    requestAnimationFrame(function (t) {
      fps.frames++;
      if (t - fps.last > 100) fps.longFrames++;
      fps.last = t;
      if (t - fps.since >= 1000) { fps.value = fps.frames * 1000 / (t - fps.since); fps.frames = 0; fps.since = t; }
      tick();
    });
  })();

  /** What the browser test reads: counters, frame rate, and update latency (bus timestamp → marker moved). */
  window.vigilMap = {
    /** The device symbols the last frame painted: id, SIDC and where (container pixels). */
    markers: function () { return symbolLayer.drawn.map(function (b) { return { id: b.id, sidc: b.sidc, x: Math.round(b.x), y: Math.round(b.y) }; }); },
    stats: function () {
      var n = Math.min(nLatency, LIMITS.latencySamples), xs = Array.prototype.slice.call(latencies, 0, n).sort(function (a, b) { return a - b; });
      var q = function (p) { return n ? xs[Math.min(n - 1, Math.floor(p * n))] : null; };
      return { symbols: symbolLayer.drawn.length, devices: devices.size, alerts: alerts.length, records: stats.records, serverDropped: stats.serverDropped, pageDropped: stats.pageDropped, malformed: stats.malformed, fps: fps.value, longFrames: fps.longFrames, latencySamples: nLatency, latencyP50: q(0.5), latencyP95: q(0.95), latencyMax: n ? xs[n - 1] : null };
    },
  };

  // ------------------------------------------------------------------ start
  map.on('moveend', drawGrid);
  drawGrid();
  setInterval(updatePanel, 1000);
  fetch('/map/config.json', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (cfg) {
    symbols = cfg.symbols || [];
    generic = cfg.genericSymbol || generic;
    devices.forEach(function (d) { d.sidc = sidcOf(d.id, symbols, generic); });
    if (cfg.tiles) {
      L.tileLayer(cfg.tiles, { maxZoom: 19, attribution: 'basemap: site tiles' }).addTo(map);
      map.removeLayer(gridLayer);
    }
    if (cfg.zones) {
      // Any offered stream's token proves a key; the first alert stream's, else the position stream's.
      var zs = alertStreams.length ? alertStreams[0] : STREAM, zt = alertStreams.length ? alertTokens[0] : TOKEN;
      return fetch('/zones.json?stream=' + encodeURIComponent(zs), { headers: { authorization: 'Bearer ' + zt }, cache: 'no-store' }).then(function (r) { return r.ok ? r.json() : { zones: [] }; }).then(drawZones);
    }
  }).catch(function (e) { problem('map settings: ' + e.message); }).then(function () {
    connect(STREAM, TOKEN, 'position');
    alertStreams.forEach(function (name, i) { connect(name, alertTokens[i] || '', 'alerts'); });
    updatePanel();
  });

  function drawZones(body) {
    (body.zones || []).forEach(function (z) {
      var noGo = z.class === 'no-go';
      var poly = L.polygon(z.polygon.map(function (v) { return [v[1], v[0]]; }), { renderer: svg, color: noGo ? '#ff5252' : '#ffb74d', weight: 2, dashArray: noGo ? null : '6 4', fillOpacity: noGo ? 0.18 : 0.1, className: 'vigil-zone zone-' + z.class });
      poly.bindTooltip(esc(z.name) + ' (' + z.class + ')', { permanent: true, direction: 'center', className: 'zone-label' });
      poly.on('add', function () { var el = poly.getElement(); if (el) { el.setAttribute('data-zone', z.id); } });
      poly.addTo(zoneLayer);
    });
    if (view.autoFit) fit(true);
  }
})();
