// Charts through Apache ECharts, loaded only by the pages that draw one (it is 1 MB).
import { html, useEffect } from './vendor/preact-htm.js';

let loading = null;

function echarts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = '/console/assets/vendor/echarts.min.js';
      script.onload = () => resolve(window.echarts);
      script.onerror = () => reject(new Error('could not load the chart library'));
      document.head.appendChild(script);
    });
  }
  return loading;
}

// A chart drawn from `option` (an ECharts option object) into a div of `id`; redrawn when the
// option changes, disposed with the page.
export function Chart({ id, option, height }) {
  useEffect(() => {
    let chart = null;
    let gone = false;
    echarts().then((library) => {
      const element = document.getElementById(id);
      if (gone || !element) return;
      chart = library.getInstanceByDom(element) || library.init(element);
      chart.setOption(option, true);
    });
    return () => {
      gone = true;
    };
  }, [id, JSON.stringify(option)]);
  useEffect(() => () => {
    if (window.echarts) {
      const element = document.getElementById(id);
      const chart = element && window.echarts.getInstanceByDom(element);
      if (chart) chart.dispose();
    }
  }, [id]);
  return html`<div class="chart" id=${id} style=${`height:${height || 260}px`}></div>`;
}

// A bar-and-line chart over time: `points` are { label, bars, line }.
export function barsAndLine(points, barsName, lineName) {
  return {
    animation: false,
    tooltip: { trigger: 'axis' },
    legend: { data: [barsName, lineName] },
    grid: { left: 50, right: 50, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: points.map((p) => p.label) },
    yAxis: [{ type: 'value', minInterval: 1 }, { type: 'value' }],
    series: [
      { name: barsName, type: 'bar', data: points.map((p) => p.bars) },
      { name: lineName, type: 'line', yAxisIndex: 1, data: points.map((p) => p.line) },
    ],
  };
}

// Buyers by province on a map of China drawn from the provinces' seats (longitude, latitude):
// one bubble each, sized by `value`. `provinces` are { name, longitude, latitude, value }.
export function provinceBubbles(provinces, seriesName) {
  const largest = Math.max(1, ...provinces.map((p) => p.value));
  return {
    animation: false,
    tooltip: { formatter: (item) => `${item.data[3]}: ${item.data[2]}` },
    grid: { left: 10, right: 10, top: 10, bottom: 10 },
    xAxis: { type: 'value', min: 73, max: 135, show: false },
    yAxis: { type: 'value', min: 18, max: 54, show: false },
    series: [
      {
        name: seriesName,
        type: 'scatter',
        data: provinces.map((p) => [p.longitude, p.latitude, p.value, p.name]),
        symbolSize: (value) => 8 + 40 * Math.sqrt(value[2] / largest),
        label: { show: true, formatter: (item) => item.data[3], position: 'right', fontSize: 11 },
      },
    ],
  };
}
