// On-time rates per row of the statistics table, as horizontal bars (ECharts, no build step).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var box = document.getElementById("chart");
  // A bar per row: the height grows with the rows. Set through the CSSOM, which the
  // Content-Security-Policy allows (a style="" attribute it would not); app.css sets the minimum.
  box.style.height = box.dataset.heightRem + "rem";
  var chart = echarts.init(box, null, { renderer: "svg" });
  chart.setOption({
    // Drawn in the chart itself (rich text), not as HTML: ECharts' HTML tooltip carries
    // style attributes, which the Content-Security-Policy refuses; and row names stay text.
    tooltip: {
      trigger: "axis", renderMode: "richText",
      valueFormatter: function (v) { return v === null ? "—" : v + "%"; }
    },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
    xAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
    yAxis: { type: "category", data: data.names, inverse: true },
    series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
