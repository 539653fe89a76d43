// webauthn.js runs the security-key (WebAuthn) ceremonies of hatoba's
// console: it asks the server for options, lets the browser talk to the key,
// and sends the key's answer back. It is a file of its own, not inline
// script, so the console's Content-Security-Policy (script-src 'self')
// holds; the page decides every URL through data attributes.
//
// The page describes what to do:
//   <meta name="csrf-token" content="…">            sent as X-CSRF-Token
//   <form data-webauthn="register" | "assert"
//         data-webauthn-begin="/…/begin"            POST → {ceremony, options}
//         data-webauthn-finish="/…/finish"          POST {ceremony, credential, name}
//         [data-webauthn-redirect="/…"]             where to go if finish names no page
//         [data-webauthn-alert="element-id"]>       where errors go (else the first
//     [<input data-webauthn-name>]                  role=alert inside, else on the page)
//     <button type="submit">…</button>
//     <p role="alert" hidden></p>
//   </form>
// A <button data-webauthn=… …> outside such a form works the same on click.
// Messages for the browser's own refusals can be given in the page's
// language: data-webauthn-msg-unsupported, -cancelled, -duplicate, -failed.
(function () {
  "use strict";

  var defaults = {
    unsupported: "This browser cannot use security keys (WebAuthn). Use a current browser.",
    cancelled: "The security key was not used: the request was cancelled or timed out. Try again.",
    duplicate: "This security key is already registered.",
    failed: "The security key could not be used."
  };

  function message(el, key) {
    return el.getAttribute("data-webauthn-msg-" + key) || defaults[key];
  }

  // base64url ⇄ ArrayBuffer: the JSON options carry bytes as unpadded
  // base64url, as go-webauthn writes them.
  function toBuffer(s) {
    var b64 = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function fromBuffer(buf) {
    if (!buf) {
      return undefined;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: toBuffer(d.id) };
      if (d.transports) {
        out.transports = d.transports;
      }
      return out;
    });
  }

  // publicKey turns the server's options ({publicKey: …}) into what
  // navigator.credentials wants.
  function publicKey(options, register) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    if (register) {
      pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user.id) });
      pk.excludeCredentials = descriptors(pk.excludeCredentials);
    } else {
      pk.allowCredentials = descriptors(pk.allowCredentials);
    }
    return pk;
  }

  // encode turns the browser's PublicKeyCredential into the JSON form
  // go-webauthn parses.
  function encode(cred, register) {
    var r = cred.response;
    var response = { clientDataJSON: fromBuffer(r.clientDataJSON) };
    if (register) {
      response.attestationObject = fromBuffer(r.attestationObject);
      if (typeof r.getTransports === "function") {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = fromBuffer(r.authenticatorData);
      response.signature = fromBuffer(r.signature);
      if (r.userHandle) {
        response.userHandle = fromBuffer(r.userHandle);
      }
    }
    return {
      id: cred.id,
      rawId: fromBuffer(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: response
    };
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // post sends JSON and returns the response; a failure becomes an Error
  // whose message is the problem's detail, for the person to read.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        "X-CSRF-Token": csrfToken()
      },
      body: JSON.stringify(body)
    }).then(function (res) {
      if (res.ok) {
        return res;
      }
      return res.text().then(function (text) {
        var detail = "";
        try {
          var p = JSON.parse(text);
          detail = p.detail || p.title || "";
        } catch (e) {
          detail = text.trim().split("\n")[0];
        }
        throw new ServerError(detail || res.status + " " + res.statusText);
      });
    });
  }

  function ServerError(msg) {
    this.name = "ServerError";
    this.message = msg;
  }
  ServerError.prototype = Object.create(Error.prototype);

  function alertFor(el) {
    var id = el.getAttribute("data-webauthn-alert");
    if (id && document.getElementById(id)) {
      return document.getElementById(id);
    }
    return el.querySelector('[role="alert"]') || document.querySelector('[role="alert"]');
  }

  function showError(el, text) {
    var box = alertFor(el);
    if (!box) {
      window.alert(text);
      return;
    }
    box.textContent = text;
    box.hidden = false;
  }

  function clearError(el) {
    var box = alertFor(el);
    if (box) {
      box.textContent = "";
      box.hidden = true;
    }
  }

  // sameOrigin keeps a redirect named by the server on this site.
  function sameOrigin(target) {
    try {
      return new URL(target, window.location.href).origin === window.location.origin;
    } catch (e) {
      return false;
    }
  }

  function setBusy(el, busy) {
    el.setAttribute("aria-busy", busy ? "true" : "false");
    var buttons = el.tagName === "BUTTON" ? [el] : el.querySelectorAll("button, input[type=submit]");
    Array.prototype.forEach.call(buttons, function (b) {
      b.disabled = busy;
    });
  }

  function run(el) {
    if (el.getAttribute("aria-busy") === "true") {
      return;
    }
    var register = el.getAttribute("data-webauthn") === "register";
    var begin = el.getAttribute("data-webauthn-begin");
    var finish = el.getAttribute("data-webauthn-finish");
    clearError(el);
    if (!window.PublicKeyCredential || !navigator.credentials || !begin || !finish) {
      showError(el, message(el, "unsupported"));
      return;
    }
    setBusy(el, true);
    var ceremony = "";
    post(begin, {})
      .then(function (res) {
        return res.json();
      })
      .then(function (reply) {
        ceremony = reply.ceremony;
        var pk = publicKey(reply.options, register);
        return register ? navigator.credentials.create({ publicKey: pk }) : navigator.credentials.get({ publicKey: pk });
      })
      .then(function (cred) {
        if (!cred) {
          throw new DOMException("no credential", "NotAllowedError");
        }
        var body = { ceremony: ceremony, credential: encode(cred, register) };
        var nameInput = el.querySelector("[data-webauthn-name]");
        if (register && nameInput) {
          body.name = nameInput.value;
        }
        return post(finish, body);
      })
      .then(function (res) {
        if (res.redirected && sameOrigin(res.url)) {
          window.location.assign(res.url);
          return;
        }
        return res.text().then(function (text) {
          var next = "";
          try {
            next = JSON.parse(text).redirect || "";
          } catch (e) {
            // Not JSON: fall back to the page's own choice.
          }
          next = next || el.getAttribute("data-webauthn-redirect") || "";
          if (next && sameOrigin(next)) {
            window.location.assign(next);
          } else {
            window.location.reload();
          }
        });
      })
      .catch(function (err) {
        setBusy(el, false);
        var text;
        if (err instanceof ServerError) {
          text = err.message;
        } else if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
          text = message(el, "cancelled");
        } else if (err && err.name === "InvalidStateError") {
          text = message(el, "duplicate");
        } else if (err && err.name === "NotSupportedError") {
          text = message(el, "unsupported");
        } else {
          text = message(el, "failed") + (err && err.message ? " (" + err.message + ")" : "");
        }
        showError(el, text);
      });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-webauthn")) {
      e.preventDefault();
      run(form);
    }
  });

  document.addEventListener("click", function (e) {
    var button = e.target instanceof Element ? e.target.closest("button[data-webauthn]") : null;
    if (button) {
      e.preventDefault();
      run(button);
    }
  });
})();
