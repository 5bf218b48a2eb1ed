/* Flächenbilanz charts: reads the figures the page embeds (script#balance-data, JSON) and draws them
   with the vendored Chart.js. The tables beneath each chart hold the same values for everybody who
   does not see the chart. */
(function () {
  "use strict";
  var source = document.getElementById("balance-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var format = new Intl.NumberFormat(data.locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  // colours with at least 4.5:1 contrast on white; lines also differ by dash, bars by order and legend
  var styles = {
    reserve_ha: { color: "#00557a", dash: [] },
    restriction_free_ha: { color: "#1d6b2f", dash: [8, 4] },
    take_up_ha: { color: "#00557a" },
    additions_ha: { color: "#1d6b2f" },
    lost_ha: { color: "#a4001d" }
  };

  function options(title) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: reduced ? false : { duration: 400 },
      locale: data.locale,
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { color: "#1b1b1b" } },
        tooltip: {
          callbacks: {
            label: function (item) { return item.dataset.label + ": " + format.format(item.parsed.y) + " " + data.unit; }
          }
        }
      },
      scales: {
        x: { ticks: { color: "#1b1b1b" } },
        y: {
          beginAtZero: true,
          title: { display: true, text: title, color: "#1b1b1b" },
          ticks: { color: "#1b1b1b", callback: function (value) { return format.format(value); } }
        }
      }
    };
  }

  function datasets(series, kind) {
    return series.datasets.map(function (d) {
      var style = styles[d.key] || { color: "#555", dash: [] };
      var out = { label: d.label, data: d.data.slice(), borderColor: style.color, backgroundColor: style.color };
      if (kind === "line") {
        out.borderDash = style.dash;
        out.borderWidth = 3;
        out.pointRadius = 4;
        out.tension = 0;
        out.fill = false;
      }
      return out;
    });
  }

  function draw(id, kind, series) {
    var canvas = document.getElementById(id);
    if (!canvas) { return null; }
    return new Chart(canvas, {
      type: kind,
      data: { labels: series.labels.slice(), datasets: datasets(series, kind) },
      options: options(data.unit)
    });
  }

  draw("chart-stock", "line", data.stock);
  draw("chart-flows", "bar", data.flows);
})();
