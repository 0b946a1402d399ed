// Open alerts per rule, waiting for a visit and with a visit in progress, as stacked
// horizontal bars (ECharts, no build step; rule names go in as text).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var box = document.getElementById("chart");
  // Set through the CSSOM, which the Content-Security-Policy allows (a style="" attribute it
  // would not); app.css sets the minimum.
  box.style.height = box.dataset.heightRem + "rem";
  var chart = echarts.init(box, null, { renderer: "svg" });
  chart.setOption({
    // Rich-text tooltip: ECharts' HTML tooltip carries style attributes the CSP refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.names, inverse: true },
    color: ["#d9a400", "#0b6e4f"],
    series: data.series.map(function (s) {
      return { name: s.name, type: "bar", stack: "alerts", data: s.data };
    })
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
