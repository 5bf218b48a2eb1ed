/* The profile editor (api/web/profiles.py): sliders and numbers kept in step, a live preview of the
   ranking (POST with the form's CSRF token; the server reads only), the sensitivity chart.
   Without this script the form still works: "Vorschau aktualisieren" and "speichern" post it. */
(function () {
  "use strict";

  var form = document.getElementById("profile-form");
  var previewBox = document.getElementById("preview");
  var sensitivityBox = document.getElementById("sensitivity");
  var sensitivityForm = document.getElementById("sensitivity-form");
  var chart = null;
  var pending = null; // the preview request in flight (aborted when a newer one starts)
  var timer = null;

  function fragment(url, options) {
    options = options || {};
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      return response.text().then(function (html) {
        return { ok: response.ok, status: response.status, html: html };
      });
    });
  }

  // --- the weights: slider and number in step, their sum ------------------------------------
  function weightInputs() {
    return form ? Array.prototype.slice.call(form.querySelectorAll("input.weight")) : [];
  }

  function showSum() {
    var out = document.getElementById("weight-sum");
    if (!out) return;
    var sum = 0;
    weightInputs().forEach(function (input) {
      var value = parseFloat(String(input.value).replace(",", "."));
      if (isFinite(value) && value > 0) sum += value;
    });
    var lang = document.documentElement.lang;
    var shown = (Math.round(sum * 100) / 100).toLocaleString(lang === "en" ? "en" : "de-DE");
    out.textContent = out.getAttribute("data-template").replace("{sum}", shown);
  }

  function bindWeights() {
    weightInputs().forEach(function (number) {
      var range = document.getElementById(number.getAttribute("data-range"));
      if (!range) return;
      range.addEventListener("input", function () {
        number.value = range.value;
        changed();
      });
      number.addEventListener("input", function () {
        var value = parseFloat(String(number.value).replace(",", "."));
        if (isFinite(value)) range.value = String(value);
        changed();
      });
    });
    if (form) {
      Array.prototype.forEach.call(form.querySelectorAll("input.parameter, #top"), function (input) {
        input.addEventListener("input", function () {
          changed();
        });
      });
    }
  }

  function changed() {
    showSum();
    window.clearTimeout(timer);
    timer = window.setTimeout(runPreview, 300);
  }

  // --- messages at the field they name ------------------------------------------------------
  function clearFieldErrors() {
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid=true]"), function (input) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    Array.prototype.forEach.call(form.querySelectorAll("p.field-error.live"), function (p) {
      p.remove();
    });
  }

  function markField(box) {
    var invalid = box.querySelector(".preview-invalid");
    if (!invalid) return;
    var input = document.getElementById(invalid.getAttribute("data-field-id"));
    if (!input) return;
    var message = document.createElement("p");
    message.className = "field-error live";
    message.id = input.id + "-error";
    message.textContent = invalid.textContent.trim();
    var row = input.closest(".weight-row") || input;
    row.insertAdjacentElement("afterend", message);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", message.id);
    var details = input.closest("details");
    if (details) details.open = true;
  }

  // --- the preview ------------------------------------------------------------------------------
  function announce(element) {
    // the summary (or the refusal) for screen readers, not the whole tables
    var status = document.getElementById("preview-status");
    if (status && element) status.textContent = element.textContent.replace(/\s+/g, " ").trim();
  }

  function runPreview() {
    if (!form || !previewBox) return;
    if (pending) pending.abort();
    pending = new AbortController();
    previewBox.setAttribute("aria-busy", "true");
    fragment(form.getAttribute("data-preview"), {
      method: "POST",
      body: new FormData(form),
      signal: pending.signal,
    })
      .then(function (answer) {
        clearFieldErrors();
        previewBox.innerHTML = answer.html;
        if (!answer.ok) markField(previewBox);
        previewBox.setAttribute("aria-busy", "false");
        previewBox.setAttribute("data-state", answer.ok ? "ok" : "invalid");
        if (answer.ok) announce(previewBox.querySelector(".moved")); // a refusal is an alert itself
      })
      .catch(function (error) {
        if (error.name !== "AbortError") previewBox.setAttribute("aria-busy", "false");
      });
  }

  // --- the sensitivity ----------------------------------------------------------------------
  function drawChart() {
    var data = document.getElementById("sensitivity-data");
    var canvas = document.getElementById("sensitivity-chart");
    if (!data || !canvas || typeof Chart === "undefined") return;
    var figures = JSON.parse(data.textContent);
    if (chart) chart.destroy();
    canvas.parentNode.style.height = Math.max(12, 2.6 * figures.labels.length + 4) + "rem";
    chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: figures.labels,
        datasets: [
          { label: figures.plusLabel, data: figures.plus, backgroundColor: "#00557a" },
          { label: figures.minusLabel, data: figures.minus, backgroundColor: "#b35900" },
        ],
      },
      options: {
        indexAxis: "y",
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: figures.axis, color: "#1b1b1b" }, ticks: { color: "#1b1b1b" } },
          y: { ticks: { color: "#1b1b1b" } },
        },
        plugins: { legend: { labels: { color: "#1b1b1b" } } },
      },
    });
  }

  function showSensitivity(request) {
    if (!sensitivityBox) return;
    sensitivityBox.setAttribute("aria-busy", "true");
    sensitivityBox.textContent = sensitivityBox.getAttribute("data-loading");
    request.then(function (answer) {
      sensitivityBox.innerHTML = answer.html;
      sensitivityBox.setAttribute("aria-busy", "false");
      sensitivityBox.setAttribute("data-state", answer.ok ? "ok" : "invalid");
      if (answer.ok) drawChart();
    });
  }

  function sensitivityOfSaved() {
    var query = new URLSearchParams(new FormData(sensitivityForm)).toString();
    showSensitivity(fragment(sensitivityForm.getAttribute("action") + "?" + query));
  }

  function sensitivityOfDraft() {
    var body = new FormData(form);
    new FormData(sensitivityForm).forEach(function (value, key) {
      body.append(key, value);
    });
    showSensitivity(fragment(form.getAttribute("data-sensitivity"), { method: "POST", body: body }));
  }

  // --- wiring -----------------------------------------------------------------------------------
  if (form) {
    bindWeights();
    showSum();
    var previewButton = document.getElementById("preview-button");
    if (previewButton) {
      previewButton.addEventListener("click", function (event) {
        event.preventDefault();
        runPreview();
      });
    }
    if (!previewBox.querySelector(".preview-result")) runPreview(); // the current ranking at once
  }
  if (sensitivityForm) {
    sensitivityForm.addEventListener("submit", function (event) {
      event.preventDefault();
      sensitivityOfSaved();
    });
    var draft = document.getElementById("sensitivity-draft");
    if (draft && form) {
      draft.hidden = false;
      draft.addEventListener("click", sensitivityOfDraft);
    }
    sensitivityOfSaved();
  } else {
    drawChart(); // the page of the sensitivity alone
  }
})();
