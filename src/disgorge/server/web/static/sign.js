// Sign a statement's payload with the person's own Ed25519 key, in the browser (WebCrypto).
// The identity file is read here and imported as a non-extractable key; it is never sent anywhere.
"use strict";
(function () {
  function b64(bytes) { let s = ""; new Uint8Array(bytes).forEach((b) => { s += String.fromCharCode(b); }); return btoa(s); }
  function unb64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
  async function signWith(file, payload, principal) {
    const doc = JSON.parse(await file.text());
    if (doc.format !== "disgorge-identity/1") throw new Error("that file is not a Disgorge identity");
    if (doc.name !== principal) throw new Error("that identity is " + doc.name + "'s, and you are signed in as " + principal);
    const der = unb64(String(doc.key).replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    return b64(await crypto.subtle.sign({ name: "Ed25519" }, key, unb64(payload)));
  }
  document.querySelectorAll("form[data-sign-form]").forEach((form) => {
    form.addEventListener("submit", async (e) => {
      const keyInput = form.querySelector("input[data-sign-key]");
      const sig = form.querySelector("textarea[name=signature]");
      const err = form.querySelector("[data-sign-error]");
      if (sig.value.trim() || !keyInput.files.length) return;
      e.preventDefault();
      try {
        sig.value = await signWith(keyInput.files[0], form.dataset.payload, form.dataset.principal);
        keyInput.value = "";
        form.submit();
      } catch (x) {
        err.textContent = "Could not sign: " + x.message;
      }
    });
  });
  const box = document.getElementById("progress");
  if (box && box.dataset.state === "running") {
    const bar = document.getElementById("bar");
    const text = document.getElementById("progress-text");
    const poll = async () => {
      const r = await fetch("/erasures/" + box.dataset.plan + "/progress", { credentials: "same-origin" });
      const j = await r.json();
      bar.max = j.total || 1; bar.value = j.done || 0;
      if (j.state === "running") { text.textContent = "Running: " + j.done + " of " + j.total + " targets…"; setTimeout(poll, 400); }
      else { location.reload(); }
    };
    setTimeout(poll, 300);
  }
})();
