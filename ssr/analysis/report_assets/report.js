// SSR report page: problem list, filters and the record view.
// Every piece of record text reaches the DOM through textContent / createTextNode
// or setAttribute, never as markup, so model output is shown, never parsed.
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("ssr-data").textContent);
  var PAGE = 200;
  var STEP_FIELDS = ["draft", "score", "score_probs", "accepted", "rewrite", "draft_tokens", "rewrite_tokens"];
  var STATUS_LABEL = { correct: "correct", wrong: "wrong", none: "no answer" };
  var CMP_LABEL = { gain: "right, baseline wrong", loss: "wrong, baseline right" };
  var REASONS = {
    single_path: "one path: its answer is the answer",
    majority: "the answer with the most votes",
    tie_break_score: "tie in votes: the answer whose paths have the higher mean step score wins",
    tie_break_first: "tie in votes and no step scores: the answer seen first wins",
    fast1_first_finished: "Fast-1: the answer of the first finished path",
    fast2_agreement: "Fast-2: the first answer two finished paths agreed on",
    no_answer: "no path gave an answer"
  };

  var state = { run: "", ds: "", st: "", cmp: "", q: "", sort: "default", desc: false, limit: PAGE, layout: "stack", only: null };
  var openRows = {};      // row index -> true
  var recCache = {};      // row index -> parsed record
  var visible = [];       // filtered, sorted rows
  var listBody = null;
  var countNode = null;

  // ------------------------------------------------------------------ DOM helpers

  function add(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { add(node, c); }); return; }
    if (typeof child === "object" && child.nodeType) { node.appendChild(child); return; }
    node.appendChild(document.createTextNode(String(child)));
  }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = String(v);
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) && digits === undefined ? String(v) : v.toFixed(digits === undefined ? 2 : digits);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function mark(ok) {
    if (ok === null || ok === undefined) return null;
    return ok ? el("span", { class: "ok-mark", title: "right" }, "✓") : el("span", { class: "bad-mark", title: "wrong" }, "✗");
  }

  function statusBadge(st) { return el("span", { class: "badge st-" + st }, STATUS_LABEL[st] || st); }

  function scoreColor(s) {
    var x = Math.max(0, Math.min(9, Number(s))) / 9;
    return "hsl(" + Math.round(x * 120) + ", 70%, 76%)";
  }

  function kvTable(obj, prefix, out) {
    out = out || el("div", { class: "kv" });
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k], key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) kvTable(v, key, out);
      else { add(out, el("div", { class: "k" }, key)); add(out, el("div", { class: "mono" }, typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : fmt(v))); }
    });
    return out;
  }

  // ------------------------------------------------------------------ list

  function runOf(row) { return D.runs[row.run] || {}; }

  function problemText(row) {
    var byDs = D.problems[row.ds] || {};
    return byDs[String(row.pid)] || "";
  }

  function pidKey(row) {
    var n = Number(row.pid);
    return isNaN(n) ? String(row.pid) : n;
  }

  function cmpValues(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;   // missing values last
    if (b === null || b === undefined) return -1;
    if (typeof a === typeof b) return a < b ? -1 : 1;
    return String(a) < String(b) ? -1 : 1;
  }

  function matches(row) {
    if (state.only !== null) return row.i === state.only;
    if (state.run !== "" && String(row.run) !== state.run) return false;
    if (state.ds !== "" && row.ds !== state.ds) return false;
    if (state.st !== "" && row.st !== state.st) return false;
    if (state.cmp !== "" && row.cmp !== state.cmp) return false;
    if (state.q !== "") {
      var q = state.q.toLowerCase();
      if (String(row.pid).toLowerCase() !== q && problemText(row).toLowerCase().indexOf(q) < 0) return false;
    }
    return true;
  }

  function computeVisible() {
    var rows = D.rows.filter(matches);
    var key = {
      "default": null,
      pid: function (r) { return pidKey(r); },
      time: function (r) { return r.t; },
      tokens: function (r) { return r.tok; },
      rewrites: function (r) { return r.steps ? r.rw / r.steps : null; }
    }[state.sort];
    if (key) {
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        var c = (ka === null || ka === undefined || kb === null || kb === undefined) ? cmpValues(ka, kb) : cmpValues(ka, kb) * (state.desc ? -1 : 1);
        return c || a.i - b.i;
      });
    } else if (state.desc) {
      rows.reverse();
    }
    visible = rows;
  }

  function headerCell(label, sortKey) {
    if (!sortKey) return el("th", null, label);
    var arrow = state.sort === sortKey ? (state.desc ? " ▼" : " ▲") : "";
    return el("th", {
      class: "sortable", title: "sort by " + label, "data-sort": sortKey,
      onclick: function () {
        if (state.sort === sortKey) state.desc = !state.desc; else { state.sort = sortKey; state.desc = sortKey !== "pid"; }
        syncControls(); renderList();
      }
    }, label + arrow);
  }

  function renderList() {
    computeVisible();
    var list = document.getElementById("list");
    list.textContent = "";
    var head = el("tr", null,
      headerCell("run"), headerCell("dataset"), headerCell("problem", "pid"), headerCell("repeat"), headerCell("result"),
      headerCell("final answer"), headerCell("gold"), headerCell("paths right"),
      D.has_baseline ? headerCell("vs baseline") : null,
      headerCell("time s", "time"), headerCell("tokens", "tokens"), headerCell("steps / rewritten", "rewrites"), headerCell("problem text"));
    listBody = el("tbody");
    var table = el("table", { class: "list" }, el("thead", null, head), listBody);
    var n = Math.min(visible.length, state.limit);
    for (var k = 0; k < n; k++) {
      var row = visible[k];
      listBody.appendChild(rowNode(row));
      if (openRows[row.i]) listBody.appendChild(detailRow(row));
    }
    list.appendChild(table);
    if (visible.length > n) {
      list.appendChild(el("div", { class: "more" },
        el("button", { onclick: function () { state.limit += PAGE; renderList(); } }, "show " + Math.min(PAGE, visible.length - n) + " more"),
        " ",
        el("button", { onclick: function () { state.limit = visible.length; renderList(); } }, "show all " + visible.length)));
    }
    countNode.textContent = visible.length + " of " + D.rows.length + " records" + (visible.length > n ? " (first " + n + " listed)" : "");
  }

  function rowNode(row) {
    var run = runOf(row);
    var tr = el("tr", {
      class: "row" + (openRows[row.i] ? " open" : ""), "data-row": row.i, "data-status": row.st, "data-cmp": row.cmp || null,
      onclick: function () { toggleRow(row.i); }
    },
      el("td", null, el("div", { class: "runlabel" }, run.label)),
      el("td", null, row.ds),
      el("td", { class: "num" }, String(row.pid)),
      el("td", { class: "num" }, String(row.rep)),
      el("td", null, statusBadge(row.st)),
      el("td", null, el("div", { class: "ans mono" }, row.ans === null ? "–" : row.ans)),
      el("td", null, el("div", { class: "ans mono" }, row.gold)),
      el("td", { class: "num" }, row.ok + "/" + row.np),
      D.has_baseline ? el("td", null,
        row.cmp ? el("span", { class: "badge cmp-" + row.cmp }, CMP_LABEL[row.cmp]) : null,
        row.base ? el("small", null, " base " + row.base[0] + "/" + row.base[1]) : null) : null,
      el("td", { class: "num" }, row.t === null || row.t === undefined ? "–" : row.t.toFixed(1)),
      el("td", { class: "num" }, fmt(row.tok)),
      el("td", { class: "num" }, row.steps ? row.steps + " / " + row.rw : "–"),
      el("td", null, el("div", { class: "snip", title: problemText(row).slice(0, 600) }, problemText(row).slice(0, 200))));
    return tr;
  }

  function toggleRow(i) {
    if (openRows[i]) { delete openRows[i]; renderList(); return; }
    openRows[i] = true;
    var row = D.rows[i];
    history.replaceState(null, "", "#open=" + encodeURIComponent(String(row.pid)) + "/" + encodeURIComponent(String(row.rep)) + "&run=" + row.run);
    renderList();
  }

  // open a row from a link or the URL: make it visible (clearing filters if needed) and scroll to it
  function openRow(i, scroll) {
    var row = D.rows[i];
    if (!row) return;
    openRows[i] = true;
    if (!matches(row)) { state.run = state.ds = state.st = state.cmp = state.q = ""; state.only = null; syncControls(); }
    computeVisible();
    var pos = visible.indexOf(row);
    if (pos >= state.limit) state.limit = pos + 1;
    renderList();
    var node = document.querySelector('tr.row[data-row="' + i + '"]');
    if (node && scroll) window.scrollTo(0, node.getBoundingClientRect().top + window.scrollY - 40);
    document.documentElement.setAttribute("data-opened", String(i));
  }

  // ------------------------------------------------------------------ one record

  function loadRecord(i) {
    if (recCache[i]) return recCache[i];
    var node = document.getElementById("rec-" + i);
    if (!node) return null;   // not parsed yet: the page is still loading
    recCache[i] = JSON.parse(node.textContent);
    return recCache[i];
  }

  function detailRow(row) {
    var ncol = D.has_baseline ? 13 : 12;
    var td = el("td", { class: "detail-cell", colspan: ncol });
    var rec = loadRecord(row.i);
    if (rec) td.appendChild(renderRecord(row, rec));
    else td.appendChild(el("p", { class: "loading" }, "loading…"));
    return el("tr", { class: "detail", "data-detail": row.i }, td);
  }

  function renderRecord(row, rec) {
    var run = runOf(row);
    var cfg = run.config || {};
    var root = el("div", { class: "rec", "data-record": row.i });
    add(root, el("h3", null, run.label + " · " + rec.dataset + " · problem " + rec.problem_id + " · repeat " + rec.repeat + " ", statusBadge(rec.status)));
    add(root, el("div", { class: "kv" },
      el("div", { class: "k" }, "file"), el("div", { class: "mono" }, rec.file || "–"),
      el("div", { class: "k" }, "time"), el("div", null, rec.timing && rec.timing.wall_seconds !== undefined ? fmt(rec.timing.wall_seconds, 2) + " s" : "–"),
      el("div", { class: "k" }, "tokens generated"), el("div", null, fmt(row.tok)),
      rec.stats && rec.stats.steps ? [el("div", { class: "k" }, "steps"), el("div", null, rec.stats.steps + " (" + rec.stats.rewrites + " rewritten)")] : null,
      row.base ? [el("div", { class: "k" }, "baseline on this problem"), el("div", null, row.base[0] + " of " + row.base[1] + " repeats right", row.cmp ? [" · ", el("span", { class: "badge cmp-" + row.cmp }, CMP_LABEL[row.cmp])] : null)] : null));

    add(root, el("h3", null, "Problem"));
    add(root, el("div", { class: "box problem-text text" }, rec.problem || ""));
    add(root, el("div", { class: "kv" },
      el("div", { class: "k" }, "gold answer"), el("div", { class: "mono" }, rec.gold),
      rec.gold_in_record !== null && rec.gold_in_record !== undefined && String(rec.gold_in_record) !== String(rec.gold)
        ? [el("div", { class: "k" }, "gold in the record"), el("div", { class: "mono" }, String(rec.gold_in_record))] : null,
      el("div", { class: "k" }, "final answer"), el("div", { class: "mono" }, rec.final_answer === null ? "(none)" : rec.final_answer, " ", mark(rec.final_answer === null ? null : rec.correct))));

    others(root, row);
    if (rec.selection) selectionBlock(root, rec.selection);
    voteBlock(root, rec);

    var paths = rec.paths || [];
    var won = {};
    (rec.vote_groups || []).forEach(function (g) { if (g.chosen) g.paths.forEach(function (p) { won[p] = true; }); });
    var hasSteps = paths.some(function (p) { return (p.steps || []).length; });
    var container = el("div", { class: "paths " + state.layout });
    var layoutBtn = el("button", {
      onclick: function () {
        state.layout = state.layout === "stack" ? "side" : "stack";
        Array.prototype.forEach.call(document.querySelectorAll(".paths"), function (n) { n.className = "paths " + state.layout; });
      }
    }, "stacked / side by side");
    add(root, el("h3", null, paths.length + " path" + (paths.length === 1 ? "" : "s") + " ", layoutBtn, " ",
      hasSteps ? el("span", { class: "legend" }, "step score 0", el("span", { class: "scale", style: "background: linear-gradient(to right," + [0, 3, 6, 9].map(scoreColor).join(",") + ")" }), "9 · accepted when ≥ " + fmt(cfg.score_threshold)) : null));
    paths.forEach(function (p, k) { container.appendChild(pathCard(p, k, won, cfg)); });
    add(root, container);
    if (rec.timeline) timelineBlock(root, rec.timeline, row.i);

    var more = el("details", null, el("summary", null, "usage, timing and stats"));
    if (rec.timing) add(more, [el("h3", null, "timing"), kvTable(rec.timing)]);
    if (rec.usage) add(more, [el("h3", null, "usage"), kvTable(rec.usage)]);
    if (rec.stats) add(more, [el("h3", null, "stats"), kvTable(rec.stats)]);
    add(root, more);
    return root;
  }

  function others(root, row) {
    var same = D.rows.filter(function (r) { return r.ds === row.ds && String(r.pid) === String(row.pid) && r.i !== row.i; });
    if (!same.length) return;
    var box = el("div", { class: "others" }, el("span", { class: "muted" }, "same problem elsewhere: "));
    same.slice(0, 40).forEach(function (r) {
      box.appendChild(el("button", { title: "open", onclick: function (ev) { ev.stopPropagation(); openRow(r.i, true); } },
        runOf(r).label + " r" + r.rep + " ", statusBadge(r.st)));
    });
    if (same.length > 40) box.appendChild(el("span", { class: "muted" }, " …and " + (same.length - 40) + " more"));
    root.appendChild(box);
  }

  function selectionBlock(root, sel) {
    add(root, el("h3", null, "Strategies chosen by SPM"));
    var chips = el("div", { class: "chips" });
    var codes = sel.codes || [];
    (sel.strategies || []).forEach(function (name, k) {
      chips.appendChild(el("span", { class: "chip" + (codes[k] === 0 ? " unknown" : ""), title: "code " + fmt(codes[k]) }, "path " + k + ": " + name + " (" + fmt(codes[k]) + ")"));
    });
    add(root, chips);
    add(root, el("div", { class: "muted" }, "parsed codes " + fmt(sel.parsed) + (sel.padded ? " · " + sel.padded + " padded with Unknown (0)" : "") + " · pool of " + fmt(sel.pool_size)));
    add(root, el("details", null, el("summary", null, "the model's selection reply"), el("pre", { class: "box" }, sel.raw === null || sel.raw === undefined ? "" : String(sel.raw))));
  }

  function voteBlock(root, rec) {
    add(root, el("h3", null, "Vote"));
    var groups = rec.vote_groups || [];
    if (groups.length) {
      var tb = el("tbody");
      groups.forEach(function (g) {
        tb.appendChild(el("tr", { class: g.chosen ? "chosen" : null },
          el("td", { class: "mono" }, g.answer), el("td", null, String(g.votes)),
          el("td", null, g.paths.length ? g.paths.join(", ") : "–"),
          el("td", null, g.score === null ? "–" : g.score.toFixed(3)),
          el("td", null, g.chosen ? "chosen" : "")));
      });
      add(root, el("table", { class: "votes" },
        el("thead", null, el("tr", null, el("th", null, "answer"), el("th", null, "votes"), el("th", null, "paths"), el("th", { title: "mean of the paths' mean step score: breaks ties" }, "mean step score"), el("th", null, ""))), tb));
    }
    add(root, el("p", null, el("b", null, rec.answer_reason || "unknown"), ": " + (REASONS[rec.answer_reason] || "") +
      " → " + (rec.final_answer === null ? "no answer" : rec.final_answer) + " ", mark(rec.final_answer === null ? null : rec.correct)));
  }

  // ------------------------------------------------------------------ the record's timeline (its schedule block)

  var SVG_NS = "http://www.w3.org/2000/svg";
  var TL = { left: 64, width: 900, right: 14, row: 14, bar: 11, gap: 10, top: 6, axis: 24 };
  var PHASES = ["select", "draft", "predraft", "score", "rewrite", "generate"];

  function svgEl(tag, attrs) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, String(attrs[k]));
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function niceStep(span) {
    var raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw > 0 ? raw : 1)));
    var m = [1, 2, 5, 10].find(function (x) { return x * p >= raw; });
    return m * p;
  }

  function barTitle(engine, b) {
    var parts = [engine, b.ph];
    if (b.p !== null && b.p !== undefined) parts.push("path " + b.p);
    if (b.k !== null && b.k !== undefined) parts.push("step " + (b.k + 1));
    parts.push(fmt(b.s, 2) + "–" + fmt(b.e, 2) + " s (" + fmt(b.e - b.s, 2) + " s)" + (b.open ? ", no end recorded" : ""));
    if (b.ptok) parts.push(b.ptok + " prompt tok");
    if (b.tok) parts.push(b.tok + " tok");
    if (b.c) parts.push("cancelled in the engine");
    if (b.w) parts.push("wasted: not in the record");
    return parts.join(" · ");
  }

  function pct(x, wall) { return wall ? " (" + Math.round(100 * x / wall) + "%)" : ""; }

  function timelineBlock(root, tl, i) {
    var wall = tl.wall || 0, lanes = tl.lanes || [];
    var scale = wall > 0 ? TL.width / wall : 0;
    var height = TL.top + TL.axis;
    lanes.forEach(function (lane) { height += Math.max(1, lane.rows) * TL.row + TL.gap; });
    var hatch = "tl-hatch-" + i;
    var svg = svgEl("svg", { class: "timeline", width: TL.left + TL.width + TL.right, height: height, role: "img", "aria-label": "requests per engine over time" },
      svgEl("defs", null, svgEl("pattern", { id: hatch, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "tl-hatch-line" }))));
    var bgs = svgEl("g", { class: "tl-bgs" });
    svg.appendChild(bgs);
    var y = TL.top;
    lanes.forEach(function (lane) {
      var h = Math.max(1, lane.rows) * TL.row;
      var g = svgEl("g", { class: "tl-lane", "data-engine": lane.engine });
      bgs.appendChild(svgEl("rect", { class: "tl-lane-bg", x: TL.left, y: y - 2, width: TL.width, height: h + 2 }));
      g.appendChild(svgEl("text", { class: "tl-engine", x: TL.left - 6, y: y + h / 2 + 4, "text-anchor": "end" }, lane.engine));
      (lane.bars || []).forEach(function (b) {
        var x = TL.left + b.s * scale, w = Math.max(1, (b.e - b.s) * scale), by = y + b.r * TL.row;
        var cls = "tl-bar ph-" + b.ph + (b.w ? " wasted" : "") + (b.c ? " cancelled" : "") + (b.open ? " open" : "");
        g.appendChild(svgEl("rect", { class: cls, x: x.toFixed(1), y: by, width: w.toFixed(1), height: TL.bar, "data-path": b.p, "data-step": b.k },
          svgEl("title", null, barTitle(lane.engine, b))));
        if (b.c) g.appendChild(svgEl("rect", { class: "tl-hatch", x: x.toFixed(1), y: by, width: w.toFixed(1), height: TL.bar, fill: "url(#" + hatch + ")" }));
        if (w > 34 && b.p !== null && b.p !== undefined) {
          g.appendChild(svgEl("text", { class: "tl-label" + (b.w ? " faded" : ""), x: (x + 3).toFixed(1), y: by + TL.bar - 2 }, "p" + b.p + (b.k !== null && b.k !== undefined ? " s" + (b.k + 1) : "")));
        }
      });
      svg.appendChild(g);
      y += h + TL.gap;
    });
    var axis = svgEl("g", { class: "tl-axis" });
    var step = niceStep(wall);
    for (var t = 0; wall > 0 && t <= wall + 1e-9; t += step) {
      var x = TL.left + t * scale;
      axis.appendChild(svgEl("line", { x1: x.toFixed(1), y1: TL.top - 2, x2: x.toFixed(1), y2: y, class: "tl-grid" }));
      axis.appendChild(svgEl("text", { x: x.toFixed(1), y: y + 14, "text-anchor": "middle" }, (step < 1 ? t.toFixed(1) : Math.round(t)) + (t === 0 ? " s" : "")));
    }
    svg.insertBefore(axis, bgs.nextSibling);  // the grid above the lanes' backgrounds, below their bars

    var busy = tl.busy || {}, pd = tl.predrafts || {}, cp = tl.critical_path, wasted = tl.wasted || {};
    var facts = ["schedule " + fmt(tl.name) + (tl.name === "async" ? (tl.predraft ? " (pre-drafting)" : " (no pre-draft)") : ""),
      "wall " + fmt(wall, 2) + " s"];
    Object.keys(busy).forEach(function (k) { facts.push(k + " busy " + fmt(busy[k], 2) + " s" + pct(busy[k], wall)); });
    if (tl.overlap !== undefined && tl.overlap !== null) facts.push("both busy " + fmt(tl.overlap, 2) + " s" + pct(tl.overlap, wall));
    if (pd.submitted) facts.push("pre-drafts used " + pd.used + " of " + pd.submitted);
    if (wasted.requests) facts.push(wasted.requests + " requests wasted (" + (wasted.cancelled || 0) + " cancelled)");
    if (cp) facts.push("critical path: path " + cp.path + ", " + fmt(cp.seconds, 2) + " s");
    var legend = el("div", { class: "legend tl-legend" }, PHASES.map(function (ph) {
      return el("span", null, el("span", { class: "tl-key ph-" + ph }), ph);
    }), el("span", null, el("span", { class: "tl-key wasted" }), "faded: wasted"), el("span", null, el("span", { class: "tl-key cancelled" }), "hatched: cancelled"));
    add(root, el("h3", null, "Timeline"));
    add(root, el("div", { class: "timeline-box", "data-timeline": i }, el("div", { class: "muted" }, facts.join(" · ")), el("div", { class: "scroll" }, svg), legend));
  }

  // a speculative path's text is its kept steps, each maybe followed by "\n\n" (text_seps: one 0/1 per step)
  function pathText(p) {
    if (p.text_seps === undefined || p.text_seps === null) return p.text || "";
    return (p.steps || []).map(function (s, j) {
      var kept = s.accepted === false ? (s.rewrite || "") : (s.draft || "");
      return kept + (p.text_seps.charAt(j) === "1" ? "\n\n" : "");
    }).join("");
  }

  function pathCard(p, k, won, cfg) {
    var idx = p.index === undefined ? k : p.index;
    var who = p.strategy ? "strategy: " + p.strategy : p.role ? "role: " + p.role : "no strategy prompt";
    var tokens = p.tokens || {};
    var steps = p.steps || [];
    var rewrites = steps.filter(function (s) { return s.accepted === false; }).length;
    var head = el("div", { class: "path-head" },
      el("span", { class: "title" }, "Path " + idx),
      el("span", null, who + (p.prompt_kind && p.prompt_kind !== "none" ? " (" + p.prompt_kind + " prompt)" : "")),
      el("span", null, "finish: ", el("b", null, p.finish_reason || "–")),
      el("span", null, "answer: ", el("span", { class: "mono" }, p.answer === null || p.answer === undefined ? "(none)" : p.answer), " ", mark(p.answer === null || p.answer === undefined ? null : p.correct)),
      p.mean_score !== null && p.mean_score !== undefined ? el("span", { title: "mean step score, rewritten steps count 9" }, "mean score " + p.mean_score.toFixed(2)) : null,
      el("span", { class: "muted" }, "tokens: target " + fmt(tokens.target_generated) + ", draft " + fmt(tokens.draft_generated) + (tokens.final !== undefined ? ", final " + fmt(tokens.final) : "")),
      steps.length ? el("span", { class: "muted" }, steps.length + " steps, " + rewrites + " rewritten") : null,
      won[idx] ? el("span", { class: "badge st-correct" }, "voted for the final answer") : null);
    var body = el("div", { class: "path-body" });
    if (steps.length) {
      var ol = el("ol", { class: "steps" });
      steps.forEach(function (s, j) { ol.appendChild(stepNode(s, j, cfg)); });
      body.appendChild(ol);
      body.appendChild(el("details", null, el("summary", null, "full path text"), el("div", { class: "path-text text" }, pathText(p))));
    } else {
      body.appendChild(el("div", { class: "path-text text" }, pathText(p)));
    }
    var extra = Object.keys(p).filter(function (key) {
      return ["index", "prompt_kind", "role", "strategy", "text", "text_seps", "answer", "finish_reason", "mean_score", "steps", "tokens", "correct"].indexOf(key) < 0;
    });
    if (extra.length) body.appendChild(el("div", { class: "extra" }, extra.map(function (key) { return key + ": " + fmt(p[key]) + "  "; }).join("")));
    return el("div", { class: "path" + (won[idx] ? " won" : ""), "data-path": idx }, head, body);
  }

  function probsTable(probs) {
    var tb = el("tbody");
    var max = Math.max.apply(null, probs.map(function (x) { return Number(x) || 0; }).concat([1e-9]));
    probs.forEach(function (x, d) {
      tb.appendChild(el("tr", null, el("td", null, String(d)), el("td", { class: "num" }, (100 * (Number(x) || 0)).toFixed(1) + "%"),
        el("td", null, el("span", { class: "pbar", style: "width:" + Math.round(120 * (Number(x) || 0) / max) + "px" }))));
    });
    return el("table", null, el("thead", null, el("tr", null, el("th", null, "digit"), el("th", null, "p"), el("th", null, ""))), tb);
  }

  function stepNode(s, j, cfg) {
    var probs = Array.isArray(s.score_probs) ? s.score_probs : null;
    var rejected = s.accepted === false;
    var probsBox = probs ? el("div", { class: "probs" }, probsTable(probs)) : null;
    var toggle = function () { if (probsBox) probsBox.classList.toggle("shown"); };
    var tip = probs ? "score distribution: " + probs.map(function (x, d) { return d + ": " + (100 * (Number(x) || 0)).toFixed(1) + "%"; }).join(", ") : "no distribution recorded";
    var spark = null;
    if (probs) {
      spark = el("span", { class: "spark", title: tip, onclick: toggle });
      probs.forEach(function (x) { spark.appendChild(el("span", { style: "height:" + Math.max(1, Math.round(18 * (Number(x) || 0))) + "px" })); });
    }
    var score = s.score === null || s.score === undefined ? null : Number(s.score);
    var extras = Object.keys(s).filter(function (k) { return STEP_FIELDS.indexOf(k) < 0; });
    var head = el("div", { class: "step-head" },
      el("span", { class: "step-no" }, "step " + (j + 1)),
      el("span", { class: "score", title: tip, style: score === null ? null : "background:" + scoreColor(score), onclick: toggle },
        score === null ? "–" : (Number.isInteger(score) ? String(score) : score.toFixed(2))),
      spark,
      el("span", null, rejected ? "rejected → rewritten by the target" : "accepted"),
      el("span", null, "draft " + fmt(s.draft_tokens) + " tok" + (rejected ? ", rewrite " + fmt(s.rewrite_tokens) + " tok" : "")),
      extras.length ? el("span", { class: "extra" }, extras.map(function (k) { return k + " " + fmt(s[k]); }).join(" · ")) : null);
    var content;
    if (rejected) {
      content = el("div", { class: "pair" },
        el("div", { class: "col draft" }, el("div", { class: "col-label" }, "draft (rejected)"), el("div", { class: "text" }, s.draft || "")),
        el("div", { class: "col rewrite" }, el("div", { class: "col-label" }, "target's rewrite"),
          el("div", { class: "text" }, s.rewrite === null || s.rewrite === undefined ? "(no rewrite recorded)" : s.rewrite)));
    } else {
      content = el("div", { class: "text" }, s.draft || "");
    }
    return el("li", { class: "step " + (rejected ? "rejected" : "accepted"), "data-step": j }, head, probsBox, content);
  }

  // ------------------------------------------------------------------ controls

  var controls = {};

  function select(name, label, options, onchange) {
    var s = el("select", { name: name, onchange: function () { state[name] = s.value; state.limit = PAGE; if (onchange) onchange(); renderList(); } });
    options.forEach(function (o) { s.appendChild(el("option", { value: o[0] }, o[1])); });
    controls[name] = s;
    return el("label", null, label, s);
  }

  function syncControls() {
    Object.keys(controls).forEach(function (k) { controls[k].value = state[k]; });
    if (controls.desc) controls.desc.textContent = state.desc ? "descending" : "ascending";
  }

  function buildControls() {
    var box = document.getElementById("controls");
    var counts = { correct: 0, wrong: 0, none: 0 }, cmps = { gain: 0, loss: 0 };
    D.rows.forEach(function (r) { counts[r.st] = (counts[r.st] || 0) + 1; if (r.cmp) cmps[r.cmp] = (cmps[r.cmp] || 0) + 1; });
    add(box, select("run", "run", [["", "all runs"]].concat(D.runs.map(function (r) { return [String(r.id), r.label + " (" + r.dataset + ")"]; }))));
    add(box, select("ds", "dataset", [["", "all"]].concat(Object.keys(D.problems).map(function (d) { return [d, d]; }))));
    add(box, select("st", "result", [["", "all"], ["correct", "correct (" + counts.correct + ")"], ["wrong", "wrong (" + counts.wrong + ")"], ["none", "no answer (" + counts.none + ")"]]));
    if (D.has_baseline) {
      add(box, select("cmp", "vs baseline", [["", "all"], ["gain", "right where the baseline is wrong (" + cmps.gain + ")"], ["loss", "wrong where the baseline is right (" + cmps.loss + ")"]]));
    }
    var q = el("input", { type: "search", placeholder: "problem id or text", size: 22 });
    q.addEventListener("input", function () { state.q = q.value.trim(); state.limit = PAGE; renderList(); });
    controls.q = q;
    add(box, el("label", null, "find", q));
    add(box, select("sort", "sort by", [["default", "run, problem, repeat"], ["pid", "problem id"], ["time", "time"], ["tokens", "tokens"], ["rewrites", "rewrite rate"]]));
    var dir = el("button", { onclick: function () { state.desc = !state.desc; syncControls(); renderList(); } }, "ascending");
    controls.desc = dir;
    add(box, dir);
    countNode = el("span", { class: "count" });
    add(box, countNode);
  }

  // one record alone (#...&view=record): the page's other sections are hidden until "show everything"
  function setFocus(i) {
    state.only = i;
    document.body.classList.add("focus");
    var box = document.getElementById("controls");
    if (!document.getElementById("unfocus")) {
      box.insertBefore(el("button", {
        id: "unfocus", onclick: function () {
          state.only = null; document.body.classList.remove("focus");
          var b = document.getElementById("unfocus"); if (b) b.parentNode.removeChild(b);
          renderList();
        }
      }, "show everything"), box.firstChild);
    }
  }

  // ------------------------------------------------------------------ URL: #open=<problem>/<repeat>[&run=<run index>][&view=record]

  function parseHash() {
    var h = location.hash.replace(/^#/, "");
    var out = {};
    h.split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq > 0) out[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1));
    });
    return out;
  }

  function openFromHash() {
    var h = parseHash();
    if (!h.open) return;
    var focus = h.view === "record";
    var cut = h.open.lastIndexOf("/");
    var pid = cut >= 0 ? h.open.slice(0, cut) : h.open, rep = cut >= 0 ? h.open.slice(cut + 1) : "0";
    var row = D.rows.find(function (r) {
      return String(r.pid) === pid && String(r.rep) === rep && (h.run === undefined || String(r.run) === h.run);
    });
    if (row && focus) setFocus(row.i);
    if (row) openRow(row.i, !focus);
    else document.documentElement.setAttribute("data-opened", "none");
  }

  buildControls();
  syncControls();
  renderList();
  document.documentElement.setAttribute("data-ready", "1");
  document.documentElement.setAttribute("data-ready-ms", performance.now().toFixed(1));

  function whenParsed() {
    // the record blocks follow this script: re-draw rows opened while they were still loading
    if (Object.keys(openRows).length) renderList();
    openFromHash();
    document.documentElement.setAttribute("data-loaded-ms", performance.now().toFixed(1));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", whenParsed);
  else whenParsed();
  window.addEventListener("hashchange", openFromHash);
})();
