// Households newly and no longer eligible per street, from the simulation page's JSON
// (ECharts, no build step; no inline script or style, for the Content-Security-Policy).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var box = document.getElementById("chart");
  // Set through the CSSOM, which the Content-Security-Policy allows (a style="" would not).
  box.style.height = box.dataset.heightRem * 1.6 + "rem";
  var chart = echarts.init(box, null, { renderer: "svg" });
  chart.setOption({
    // Rich-text tooltip: ECharts' HTML tooltip carries style attributes, which CSP refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: data.names, inverse: true },
    series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
