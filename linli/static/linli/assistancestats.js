// Assistance statistics: amounts per month and program (lines) and households per street and
// program (bars), drawn with ECharts from the page's JSON (no build step, no inline script).
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  // Tooltips drawn in the chart itself (rich text): ECharts' HTML tooltip carries style
  // attributes, which the Content-Security-Policy refuses; and names stay text.
  var tooltip = { trigger: "axis", renderMode: "richText" };
  var charts = [];

  var amounts = document.getElementById("chart-amounts");
  if (amounts) {
    amounts.style.height = amounts.dataset.heightRem + "rem";
    var lines = echarts.init(amounts, null, { renderer: "svg" });
    lines.setOption({
      tooltip: tooltip,
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", name: data.labels.amount },
      series: data.amounts.map(function (s) { return { name: s.name, type: "line", data: s.data }; })
    });
    charts.push(lines);
  }

  var households = document.getElementById("chart-households");
  if (households) {
    // A bar per street: the height grows with the streets, set through the CSSOM (which the
    // Content-Security-Policy allows, unlike a style="" attribute).
    households.style.height = households.dataset.heightRem + "rem";
    var bars = echarts.init(households, null, { renderer: "svg" });
    bars.setOption({
      tooltip: tooltip,
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 48, bottom: 8, containLabel: true },
      xAxis: { type: "value", name: data.labels.households, minInterval: 1 },
      yAxis: { type: "category", data: data.streets, inverse: true },
      series: data.households.map(function (s) {
        return { name: s.name, type: "bar", stack: "households", data: s.data };
      })
    });
    charts.push(bars);
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
