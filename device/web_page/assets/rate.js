/* The rating page's script: plain ES2017, no modules, nothing from outside the device.
   It shows what the evaluator's state machine says (long-polling the page's state), sends each
   press with the page's one-time token, and measures the rater's reaction time from the
   rating page becoming visible on this screen to the press. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.querySelector('meta[name="rate-page"]').content);
  var base = cfg.base + "/" + encodeURIComponent(cfg.page);
  var version = 0;
  var current = null; // the last state shown
  var visibleAt = null; // performance.now() when the rating page was first painted visible
  var waitingFor = 0; // page-changing presses sent and not yet reflected in a new state
  var queue = []; // presses in the order tapped, sent one at a time
  var sending = false;
  var lastKey = "";
  var lastAt = -1e9;
  var DOUBLE_TAP_MS = 400; // the same button again this soon: one tap
  var leaving = false;
  var sawThanks = false;

  function el(id) { return document.getElementById(id); }
  function show(id, on) { el(id).hidden = !on; }

  function sleep(ms) { return new Promise(function (done) { setTimeout(done, ms); }); }

  function leave(delayMs) {
    if (leaving || !cfg.returnUrl) { return; }
    leaving = true;
    setTimeout(function () { window.location.replace(cfg.returnUrl); }, delayMs);
  }

  function markVisible() {
    if (visibleAt !== null || document.visibilityState !== "visible") { return; }
    // the frame after the next one: the rating page has been painted
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        if (visibleAt === null) { visibleAt = performance.now(); }
      });
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (current && current.state === "rating") { markVisible(); }
  });

  // A press that changes the page (a level on a one-row page, submit, choose again) before
  // the device answered the last one is a double tap and goes nowhere. A reason tag, or a
  // level in one row of several, only marks, so each tap on another button is kept and sent
  // after the ones before it (a quick finger loses no reason); the same button again within
  // DOUBLE_TAP_MS is a bounce, not a change of mind.
  function press(body) {
    if (leaving) { return; }
    var now = performance.now();
    var key = JSON.stringify(body);
    if (key === lastKey && now - lastAt < DOUBLE_TAP_MS) { return; }
    var changesPage = !marksOnly(body);
    if (changesPage && waitingFor > 0) { return; }
    lastKey = key;
    lastAt = now;
    if (changesPage) { waitingFor += 1; }
    if (body.action === "level" && visibleAt !== null) {
      body.visibleMs = Math.max(0, Math.round(now - visibleAt));
    }
    document.body.classList.add("busy");
    queue.push(body);
    sendNext();
  }

  function marksOnly(body) {
    var rows = current && current.rows ? current.rows.length : 1;
    return body.action === "tag" || (body.action === "level" && rows > 1);
  }

  function sendNext() {
    if (sending || queue.length === 0 || leaving) { return; }
    sending = true;
    var body = queue.shift();
    fetch(base + "/press", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Page-Token": cfg.token },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (reply) {
      if (reply.status === 403) { elsewhere(); }
      if (!reply.ok && !marksOnly(body)) { waitingFor = 0; }
    }).catch(function () {
      if (!marksOnly(body)) { waitingFor = 0; }
    }).then(function () {
      sending = false;
      sendNext();
    });
  }

  function elsewhere() {
    leaving = true;
    showMessage(cfg.elsewhere, "");
  }

  function showMessage(title, hint) {
    ["rating", "reasons", "rate-later"].forEach(function (id) { show(id, false); });
    show("message", true);
    el("message-title").textContent = title;
    el("message-hint").textContent = hint;
  }

  function fillList(list, lines) {
    list.textContent = "";
    lines.forEach(function (line) {
      var item = document.createElement("li");
      item.textContent = line.text;
      item.className = line.role;
      list.appendChild(item);
    });
  }

  function levelButtons(row) {
    var template = el("single").querySelectorAll(".level");
    var box = document.createElement("div");
    box.className = "levels";
    Array.prototype.forEach.call(template, function (button) {
      var copy = button.cloneNode(true);
      var level = Number(copy.getAttribute("data-level"));
      copy.setAttribute("data-row", row);
      copy.setAttribute("aria-pressed", "false");
      copy.classList.remove("dim");
      copy.addEventListener("click", function () {
        press({ action: "level", level: level, row: row });
      });
      box.appendChild(copy);
    });
    return box;
  }

  function renderRating(s) {
    el("invite").textContent = s.case.title;
    fillList(el("case"), s.case.lines);
    var multi = s.rows.length > 1;
    show("single", !multi);
    show("rows", multi);
    show("submit-rows", multi);
    var rows = el("rows");
    var layout = s.case.projectNo + "|" + s.rows.map(function (r) { return r.id; }).join(",");
    if (multi && rows.getAttribute("data-layout") !== layout) {
      rows.textContent = ""; // built once per case; later states only mark the chosen levels
      rows.setAttribute("data-layout", layout);
      s.rows.forEach(function (row) {
        var part = document.createElement("div");
        part.className = "row";
        var name = document.createElement("h2");
        name.textContent = row.name;
        part.appendChild(name);
        part.appendChild(levelButtons(row.id));
        rows.appendChild(part);
      });
    }
    if (multi) {
      s.rows.forEach(function (row) {
        var buttons = rows.querySelectorAll('.level[data-row="' + row.id + '"]');
        Array.prototype.forEach.call(buttons, function (b) {
          var level = Number(b.getAttribute("data-level"));
          b.setAttribute("aria-pressed", String(row.level === level));
          b.classList.toggle("dim", row.level !== null && row.level !== level);
        });
      });
      el("submit-rows").disabled = s.rows[0].level === null;
    } else {
      var chosen = s.rows[0].level;
      Array.prototype.forEach.call(el("single").querySelectorAll(".level"), function (b) {
        var level = Number(b.getAttribute("data-level"));
        b.setAttribute("aria-pressed", String(chosen === level));
        b.classList.toggle("dim", chosen !== null && chosen !== level);
      });
    }
    countdown("seconds", s);
    markVisible();
  }

  function seconds(s) {
    return s.secondsLeft === null ? "" : cfg.seconds.replace("{n}", String(s.secondsLeft));
  }

  function countdown(id, s) {
    el(id).textContent = seconds(s);
    var total = s.secondsTotal || 1;
    var left = s.secondsLeft === null ? total : s.secondsLeft;
    el("bar-fill").style.width = Math.max(0, Math.min(100, 100 * left / total)) + "%";
    el("bar-fill").classList.toggle("low", left <= 5);
  }

  function renderReasons(s) {
    var r = s.reasons;
    el("reasons-title").textContent = r.title;
    el("reasons-hint").textContent = r.hint;
    el("reasons-hint").classList.toggle("warn", r.asked);
    el("reasons-seconds").textContent = seconds(s);
    el("choose-again").textContent = r.chooseAgain;
    var tags = el("tags");
    var layout = r.tags.map(function (t) { return t.code; }).join(",");
    if (tags.getAttribute("data-layout") !== layout) {
      tags.textContent = ""; // built once per reasons page; later states only tick
      tags.setAttribute("data-layout", layout);
      r.tags.forEach(function (tag) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "tag";
        button.textContent = tag.label;
        button.setAttribute("data-tag", tag.code);
        button.addEventListener("click", function () { press({ action: "tag", tag: tag.code }); });
        tags.appendChild(button);
      });
    }
    r.tags.forEach(function (tag) {
      var button = tags.querySelector('[data-tag="' + CSS.escape(tag.code) + '"]');
      if (button) { button.setAttribute("aria-pressed", String(tag.selected)); }
    });
  }

  function render(s) {
    current = s;
    document.getElementById("page").setAttribute("data-state", s.state);
    show("message", false);
    show("rating", s.state === "rating" || s.state === "storing");
    show("reasons", s.state === "reasons");
    show("rate-later", s.state === "rate_later");
    show("back", false);
    if (s.state === "rating" || s.state === "storing") {
      renderRating(s);
    } else if (s.state === "reasons") {
      renderReasons(s);
    } else if (s.state === "rate_later") {
      el("later-title").textContent = s.texts.title;
      el("later-hint").textContent = s.texts.hint;
      if (s.hasCode && !el("code").getAttribute("src")) {
        el("code").setAttribute("src", base + "/rate-later.svg?t=" + encodeURIComponent(cfg.token));
      }
    } else {
      showMessage(s.texts.title, s.texts.hint);
      if (s.state === "thanks") { sawThanks = true; }
      if (s.over && cfg.returnUrl) {
        show("back", true);
        el("back").textContent = s.texts.back;
        leave(sawThanks ? 0 : 4000);
      }
    }
  }

  el("back").addEventListener("click", function () { leave(0); });
  el("submit-rows").addEventListener("click", function () { press({ action: "submit" }); });
  el("submit").addEventListener("click", function () { press({ action: "submit" }); });
  el("choose-again").addEventListener("click", function () { press({ action: "choose_again" }); });
  Array.prototype.forEach.call(el("single").querySelectorAll(".level"), function (button) {
    button.addEventListener("click", function () {
      press({ action: "level", level: Number(button.getAttribute("data-level")), row: "overall" });
    });
  });

  async function follow() {
    var failures = 0;
    while (!leaving) {
      try {
        var reply = await fetch(base + "/state/" + version, {
          headers: { "X-Page-Token": cfg.token }, cache: "no-store", credentials: "same-origin"
        });
        if (reply.status === 403) { elsewhere(); return; }
        if (!reply.ok) { throw new Error(String(reply.status)); }
        var s = await reply.json();
        failures = 0;
        if (s.version !== version || current === null) {
          version = s.version;
          if (!sending && queue.length === 0) { waitingFor = 0; }
          document.body.classList.remove("busy");
          render(s);
        }
        if (s.over) { return; }
      } catch (e) {
        failures += 1;
        if (failures > 2) { showMessage(cfg.offline, ""); }
        await sleep(500);
      }
    }
  }
  follow();
}());
