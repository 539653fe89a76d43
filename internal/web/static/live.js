// live.js keeps the environments on a console page current while they
// change: every 2 seconds it asks the JSON API about each environment that
// is not in a final state and updates its state badge and, on an
// environment's own page, its steps. Without JavaScript the page still shows
// the state at the time it was loaded; reloading shows the rest.
//
// The page describes what to watch:
//   <body data-final-states="ready rejected failed closed">
//   <… data-live-env="env-…" data-state="provisioning" [data-live-reload]>
//     <span data-live="state">…</span>
//     <li data-step="create_account"> [data-live=step-state|attempts|started|finished|last-error] </li>
//   <script type="application/json" id="live-labels">{"state.ready": "…"}</script>
//
// On an environment's people page, while an assignment waits for the
// provider:
//   <… data-live-access="env-…" data-live-access-sig="person:set:state,…">
// it asks /api/v1/environments/{id}/access every 2 seconds and reloads the
// page once the assignments differ from what it shows.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var finalStates = (document.body.getAttribute("data-final-states") || "").split(" ");
  var labels = {};
  try {
    labels = JSON.parse(document.getElementById("live-labels").textContent);
  } catch (e) {
    // Without labels the raw state names are shown; still better than stale.
  }

  function label(prefix, value) {
    return labels[prefix + "." + value] || value;
  }

  function isFinal(state) {
    return finalStates.indexOf(state) >= 0;
  }

  // jst formats an RFC 3339 time as the server does: Japan time, to the second.
  function jst(iso) {
    var ms = Date.parse(iso);
    if (isNaN(ms)) {
      return "—";
    }
    return new Date(ms + 9 * 3600 * 1000).toISOString().slice(0, 19).replace("T", " ");
  }

  function setTime(el, iso) {
    if (!el) {
      return;
    }
    if (iso) {
      el.setAttribute("datetime", iso);
      el.textContent = jst(iso);
    } else {
      el.removeAttribute("datetime");
      el.textContent = "—";
    }
  }

  function applySteps(root, steps) {
    (steps || []).forEach(function (step) {
      var li = root.querySelector('[data-step="' + CSS.escape(step.name) + '"]');
      if (!li) {
        return;
      }
      li.className = "step step--" + step.state;
      var badge = li.querySelector('[data-live="step-state"]');
      if (badge) {
        badge.className = "badge badge--step-" + step.state;
        badge.textContent = label("stepstate", step.state);
      }
      var attempts = li.querySelector('[data-live="attempts"]');
      if (attempts) {
        attempts.textContent = String(step.attempts);
      }
      setTime(li.querySelector('[data-live="started"]'), step.started_at);
      setTime(li.querySelector('[data-live="finished"]'), step.finished_at);
      var lastError = li.querySelector('[data-live="last-error"]');
      if (lastError) {
        lastError.textContent = step.last_error || "";
        lastError.hidden = !step.last_error;
      }
    });
  }

  function apply(root, detail) {
    var changed = detail.state !== root.getAttribute("data-state");
    if (changed) {
      root.setAttribute("data-state", detail.state);
      var badge = root.querySelector('[data-live="state"]');
      if (badge) {
        badge.className = "badge badge--" + detail.state;
        badge.textContent = label("state", detail.state);
      }
    }
    applySteps(root, detail.steps);
    // An environment's own page offers different actions and a longer
    // history once it settles: load it again to show them.
    if (changed && isFinal(detail.state) && root.hasAttribute("data-live-reload")) {
      window.location.reload();
    }
  }

  function refresh(root) {
    var id = root.getAttribute("data-live-env");
    return fetch("/api/v1/environments/" + encodeURIComponent(id), {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.json();
      })
      .then(function (detail) {
        apply(root, detail);
      })
      .catch(function () {
        // A dropped request is retried on the next tick.
      });
  }

  function watched() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-live-env]"), function (el) {
      return !isFinal(el.getAttribute("data-state"));
    });
  }

  function tick() {
    var roots = watched();
    if (roots.length === 0) {
      return; // everything has settled: stop asking
    }
    if (document.hidden) {
      window.setTimeout(tick, POLL_MS); // nobody is looking; ask later
      return;
    }
    Promise.all(roots.map(refresh)).then(function () {
      window.setTimeout(tick, POLL_MS);
    });
  }

  // accessSignature is the assignments as the page signs them: sorted
  // "person:set:state" joined by commas.
  function accessSignature(items) {
    return (items || [])
      .map(function (a) {
        return a.person_id + ":" + a.permission_set + ":" + a.state;
      })
      .sort()
      .join(",");
  }

  function watchAccess(el) {
    var id = el.getAttribute("data-live-access");
    var shown = el.getAttribute("data-live-access-sig") || "";
    function poll() {
      if (document.hidden) {
        window.setTimeout(poll, POLL_MS);
        return;
      }
      fetch("/api/v1/environments/" + encodeURIComponent(id) + "/access", {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (resp) {
          if (!resp.ok) {
            throw new Error("HTTP " + resp.status);
          }
          return resp.json();
        })
        .then(function (list) {
          if (accessSignature(list.items) !== shown) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, POLL_MS);
        })
        .catch(function () {
          window.setTimeout(poll, POLL_MS); // retried on the next tick
        });
    }
    window.setTimeout(poll, POLL_MS);
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-live-access]"), function (el) {
    Array.prototype.forEach.call(el.querySelectorAll("[data-live-note]"), function (note) {
      note.hidden = false;
    });
    watchAccess(el);
  });

  if (watched().length > 0) {
    Array.prototype.forEach.call(document.querySelectorAll("[data-live-note]"), function (el) {
      el.hidden = false;
    });
    window.setTimeout(tick, POLL_MS);
  }
})();

// After a refused form the page comes back with an error summary: focus
// moves to it, as the Digital Agency design system's pattern does, so a
// screen reader reads what went wrong and a keyboard starts from there; a
// link of the summary moves to its field (the field's own id, or the
// first control of that name: a group of radio buttons) instead of
// following the fragment, which for some fields is not an element id.
(function () {
  "use strict";

  var summary = document.querySelector("main .error-summary[data-error-summary]");
  if (!summary) {
    return;
  }
  summary.setAttribute("tabindex", "-1");
  summary.focus();

  summary.addEventListener("click", function (ev) {
    var link = ev.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    var name = decodeURIComponent(link.getAttribute("href").slice(1));
    var field = document.getElementById(name);
    if (field && field.tagName === "FIELDSET") {
      field = field.querySelector("input, select, textarea");
    }
    if (!field || field.type === "hidden") {
      field = document.querySelector("[name='" + name.replace(/'/g, "") + "']:not([type=hidden])");
    }
    if (!field) {
      return;
    }
    ev.preventDefault();
    var group = field.closest("fieldset");
    (group || field).scrollIntoView({ block: "center" });
    field.focus();
    // Enter activated the link on its key going down; the rest of that
    // key press now reaches the field, where Enter would submit the form
    // again. Swallow it, once.
    moved = field;
    setTimeout(function () { moved = null; }, 500);
  });

  var moved = null;
  document.addEventListener("keypress", function (ev) {
    if (moved && ev.target === moved && ev.key === "Enter") {
      ev.preventDefault();
    }
    moved = null;
  }, true);
  document.addEventListener("keyup", function () { moved = null; }, true);
})();

// On the request form, the provider select offers only the providers the
// placement policy allows for the classification chosen: each option
// names them (data-classifications="level1 level2"), drawn by the server,
// which judges the request again whatever is sent. Without JavaScript
// every provider stays offered until the form comes back.
(function () {
  "use strict";

  var select = document.querySelector("select[data-placement]");
  if (!select) {
    return;
  }
  function filter() {
    var chosen = document.querySelector('input[name="classification"]:checked');
    if (!chosen) {
      return;
    }
    for (var i = 0; i < select.options.length; i++) {
      var opt = select.options[i];
      var classes = opt.getAttribute("data-classifications");
      if (classes === null) {
        continue; // the "choose" placeholder
      }
      var allowed = classes.split(" ").indexOf(chosen.value) >= 0;
      opt.hidden = !allowed;
      opt.disabled = !allowed;
      if (!allowed && opt.selected) {
        select.selectedIndex = 0;
      }
    }
  }
  var radios = document.querySelectorAll('input[name="classification"]');
  for (var i = 0; i < radios.length; i++) {
    radios[i].addEventListener("change", filter);
  }
  filter();
})();
