// The template's CloudWatch dashboard, drawn from its DashboardBody and fed by GetMetricData.
"use strict";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];
const REFRESH_MS = 5000;
// each refresh of a log widget is a Logs Insights query (billed per GB scanned on AWS): at most
// every 10 s, the console's shortest auto-refresh
const LOG_REFRESH_MS = 10000;
const logRefreshed = {};
let dashboard = null;
let timer = null;

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function setStatus(state, text) {
  document.body.dataset.stack = state;
  document.getElementById("status").textContent = text;
}

function showAlarms(alarms) {
  const list = document.getElementById("alarms");
  list.replaceChildren();
  for (const [name, state] of Object.entries(alarms).sort()) {
    list.append(element("li", {class: `state-${state}`, "data-alarm": name, "data-state": state},
      `${name}: ${state}`));
  }
}

function layoutWidget(widget) {
  const box = element("section", {class: "widget", "data-widget": String(widget.index),
    "data-type": widget.type});
  box.style.gridColumn = `${widget.x + 1} / span ${widget.width}`;
  box.style.gridRow = `${widget.y + 1} / span ${widget.height}`;
  box.append(element("h2", {}, widget.title || `(${widget.type})`));
  if (widget.unsupported.length) {
    box.append(element("p", {class: "placeholder"},
      `not rendered locally: ${widget.unsupported.join(", ")}`));
  }
  if (widget.type === "text") {
    box.append(element("div", {class: "text"}, widget.markdown || ""));
  } else if (widget.type === "metric") {
    const chart = element("div", {class: "chart"});
    chart.append(element("div", {class: "empty"}, "No data yet"));
    box.append(chart, element("ul", {class: "legend"}));
  } else if (widget.type === "alarm") {
    box.append(element("ul", {class: "alarm-list"}));
  } else if (widget.type === "log") {
    const holder = element("div", {class: "log-table"});
    holder.append(element("div", {class: "empty"}, "No data yet"));
    box.append(holder);
  }
  return box;
}

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  return Math.abs(value) >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toPrecision(3);
}

function drawMetricWidget(widget, box, results) {
  const chart = box.querySelector(".chart");
  const legend = box.querySelector(".legend");
  legend.replaceChildren();
  const traces = [];
  let points = 0;
  results.forEach((result, n) => {
    const color = COLORS[n % COLORS.length];
    const order = result.Timestamps.map((_, i) => i).reverse();  // oldest first
    const x = order.map((i) => new Date(result.Timestamps[i]));
    const y = order.map((i) => result.Values[i]);
    points += y.length;
    const latest = y.length ? y[y.length - 1] : null;
    const item = element("li", {class: "series", "data-label": result.Label,
      "data-values": JSON.stringify(y), "data-latest": latest === null ? "" : String(latest)});
    const swatch = element("span", {class: "swatch"});
    swatch.style.background = color;
    item.append(swatch, document.createTextNode(`${result.Label}: ${formatValue(latest)}`));
    legend.append(item);
    traces.push({x, y, name: result.Label, type: "scatter", mode: y.length > 1 ? "lines" : "markers",
      line: {color, width: 2}, marker: {color}, stackgroup: widget.stacked ? "one" : undefined});
  });
  chart.querySelector(".empty").style.display = points ? "none" : "flex";
  box.dataset.points = String(points);
  if (widget.view === "singleValue") {
    let single = chart.querySelector(".single");
    if (!single) { single = element("div", {class: "single"}); chart.append(single); }
    single.replaceChildren(...results.map((result) => {
      const cell = element("div", {class: "cell"});
      cell.append(element("div", {class: "value"}, formatValue(result.Values[0])),
        element("div", {}, result.Label));
      return cell;
    }));
    return;
  }
  const left = (widget.yAxis && widget.yAxis.left) || {};
  const shapes = ((widget.annotations && widget.annotations.horizontal) || []).map((line) => ({
    type: "line", xref: "paper", x0: 0, x1: 1, y0: line.value, y1: line.value,
    line: {color: line.color || "#d13212", dash: "dash", width: 1}}));
  const range = Number(document.getElementById("range").value) * 1000;
  Plotly.react(chart, traces, {
    margin: {l: 48, r: 12, t: 6, b: 28}, showlegend: false, shapes,
    xaxis: {type: "date", tickformat: "%H:%M", range: [new Date(Date.now() - range), new Date()]},
    yaxis: {rangemode: "tozero", title: {text: left.label || ""},
      range: left.min !== undefined && left.max !== undefined ? [left.min, left.max] : undefined},
  }, {displayModeBar: false, responsive: true, staticPlot: false});
  if (points) chart.querySelector(".empty").style.display = "none";
}

function drawAlarmWidget(widget, box, alarms) {
  const list = box.querySelector(".alarm-list");
  list.replaceChildren(...widget.alarms.map((arn) => {
    const name = arn.split(":alarm:").pop();
    const state = alarms[name] || "INSUFFICIENT_DATA";
    return element("li", {class: `alarm-state state-${state}`}, `${name}: ${state}`);
  }));
}

function drawLogWidget(widget, box, answer) {
  // the columns in the order the results name them (@ptr, the record's pointer, is not shown)
  const columns = [];
  for (const row of answer.results) {
    for (const cell of row) if (cell.field !== "@ptr" && !columns.includes(cell.field)) columns.push(cell.field);
  }
  const holder = box.querySelector(".log-table");
  box.dataset.rows = String(answer.results.length);
  if (!answer.results.length) {
    holder.replaceChildren(element("div", {class: "empty"}, "No data yet"));
    return;
  }
  const table = element("table");
  const head = element("tr");
  for (const column of columns) head.append(element("th", {}, column));
  table.append(element("thead"), element("tbody"));
  table.tHead.append(head);
  for (const row of answer.results) {
    const values = Object.fromEntries(row.map((cell) => [cell.field, cell.value]));
    const line = element("tr", {"data-row": JSON.stringify(values)});
    for (const column of columns) line.append(element("td", {}, values[column] ?? ""));
    table.tBodies[0].append(line);
  }
  holder.replaceChildren(table);
}

async function post(path, body) {
  const answer = await fetch(path, {method: "POST", body: JSON.stringify(body),
    headers: {"Content-Type": "application/json"}});
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${(await answer.json()).message}`);
  return answer.json();
}

async function refresh() {
  const end = Date.now() / 1000;
  const start = end - Number(document.getElementById("range").value);
  try {
    const current = await (await fetch("/api/dashboard")).json();
    showAlarms(current.alarms);
    for (const widget of dashboard.widgets) {
      const box = document.querySelector(`[data-widget="${widget.index}"]`);
      if (widget.type === "alarm") drawAlarmWidget(widget, box, current.alarms);
      if (widget.type === "log" && widget.log && widget.log.logGroupNames.length) {
        if (logRefreshed[widget.index] && Date.now() - logRefreshed[widget.index] < LOG_REFRESH_MS) continue;
        const answer = await post("/api/LogsQuery", {...widget.log, startTime: Math.floor(start),
          endTime: Math.ceil(end)});
        logRefreshed[widget.index] = Date.now();
        drawLogWidget(widget, box, answer);
        continue;
      }
      if (widget.type !== "metric" || !widget.queries.length) continue;
      const data = await post("/api/GetMetricData",
        {MetricDataQueries: widget.queries, StartTime: start, EndTime: end});
      drawMetricWidget(widget, box, data.MetricDataResults);
    }
    setStatus("running", `live — refreshed ${new Date().toLocaleTimeString()}`);
    document.body.dataset.rendered = "true";
  } catch (error) {
    if (error instanceof TypeError) {  // the server is gone: fetch itself failed
      setStatus("stopped", `the local stack has stopped (last refresh ${new Date().toLocaleTimeString()})`);
      stopTimer();
    } else {
      setStatus("error", String(error.message || error));
    }
  }
}

function stopTimer() { if (timer) { clearInterval(timer); timer = null; } }
function startTimer() { stopTimer(); timer = setInterval(refresh, REFRESH_MS); }

async function main() {
  try {
    dashboard = await (await fetch("/api/dashboard")).json();
  } catch (error) {
    setStatus("stopped", "the local stack is not running");
    return;
  }
  const asked = new URLSearchParams(location.search).get("range");  // ?range=900, as a link may ask
  if (asked && document.querySelector(`#range option[value="${asked}"]`)) {
    document.getElementById("range").value = asked;
  }
  document.getElementById("name").textContent = dashboard.name;
  document.title = `${dashboard.name} — local stack`;
  const grid = document.getElementById("grid");
  grid.replaceChildren(...dashboard.widgets.map(layoutWidget));
  document.getElementById("range").addEventListener("change", () => {
    for (const index of Object.keys(logRefreshed)) delete logRefreshed[index];  // a new range: query now
    refresh();
  });
  document.getElementById("auto").addEventListener("change", (event) => {
    if (event.target.checked) { startTimer(); refresh(); } else { stopTimer(); }
  });
  await refresh();
  if (document.getElementById("auto").checked && document.body.dataset.stack !== "stopped") startTimer();
}

main();
