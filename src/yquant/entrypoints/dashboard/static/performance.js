// /performance: the equity curve (a strategy: its cumulative return) and the drawdown, drawn
// with Lightweight Charts from the JSON the page carries (#perf-data).
(function () {
  "use strict";
  const holder = document.getElementById("perf-data");
  if (!holder || !window.LightweightCharts) return;
  const data = JSON.parse(holder.textContent);
  const lang = document.body.dataset.lang;
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  const LC = window.LightweightCharts;

  function make(box, formatter) {
    return LC.createChart(box, {
      autoSize: true,
      localization: { locale: lang === "ko" ? "ko-KR" : "en-GB", priceFormatter: formatter },
      layout: { background: { color: "transparent" }, textColor: dark ? "#e6e9ef" : "#1b1f27" },
      grid: { vertLines: { visible: false }, horzLines: { color: dark ? "#2a303c" : "#e5e8ee" } },
      timeScale: { borderVisible: false },
      rightPriceScale: { borderVisible: false },
      handleScroll: false,
      handleScale: false,
    });
  }
  const number = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const pct = function (p) { return p.toFixed(2) + "%"; };

  const lineBox = document.getElementById("perf-line");
  const line = make(lineBox, data.kind === "equity" ? function (p) { return number.format(p); } : pct);
  line.addSeries(LC.LineSeries, { color: "#0969da", lineWidth: 2 }).setData(data.line);
  line.timeScale().fitContent();

  const ddBox = document.getElementById("perf-drawdown");
  const dd = make(ddBox, pct);
  dd.addSeries(LC.AreaSeries, {
    lineColor: "#cf222e", topColor: "rgba(207,34,46,0.05)", bottomColor: "rgba(207,34,46,0.35)",
  }).setData(data.drawdown);
  dd.timeScale().fitContent();
  document.body.dataset.perfCharts = "drawn";
})();
