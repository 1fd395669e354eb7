// yQuant dashboard: live status over Server-Sent Events, the offline state, and the charts.
// No inline script anywhere (the CSP forbids it); htmx refreshes the live parts of a page.
(function () {
  "use strict";
  const OFFLINE_AFTER_MS = 5000;
  const body = document.body;
  const lang = body.dataset.lang || "en";
  let lastSeen = Date.now();
  let lastChange = null;
  let offlineShown = false;

  // HH:MM:SS in the desk's zone (the dashboard's time_zone), with the zone's name.
  function clock(ms) {
    const parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: body.dataset.zone || undefined, hour12: false,
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
    return parts.hour + ":" + parts.minute + ":" + parts.second + " " + (body.dataset.zoneName || "");
  }

  function setOffline(on) {
    const box = document.getElementById("offline");
    if (!box) return;
    if (on && !offlineShown) {
      offlineShown = true;
      body.classList.add("offline");
      box.textContent = (body.dataset.offline || "offline since {at}").replace("{at}", clock(lastSeen));
      box.hidden = false;
      // Is the server away, or has this session ended? Only the session can say 401.
      fetch("/api/session", { cache: "no-store", credentials: "same-origin" }).then(function (res) {
        if (res.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); }
      }).catch(function () { /* away: the banner says so */ });
    } else if (!on && offlineShown) {
      offlineShown = false;
      body.classList.remove("offline");
      box.hidden = true;
      box.textContent = "";
    }
  }

  function apply(status) {
    lastSeen = Date.now();
    setOffline(false);
    const ready = document.getElementById("ready");
    if (ready) {
      ready.textContent = status.ready_text;
      ready.dataset.state = status.state_word;
      ["up", "down", "standby"].forEach(function (c) { ready.classList.toggle(c, c === status.state); });
    }
    const role = document.getElementById("role");
    if (role && typeof status.role_text === "string") role.innerHTML = status.role_text;
    const banner = document.getElementById("banner");
    if (banner && typeof status.banner === "string" && banner.innerHTML.trim() !== status.banner) {
      banner.innerHTML = status.banner;
    }
    for (const [name, state] of Object.entries(status.checks || {})) {
      document.querySelectorAll('[data-check="' + name + '"]').forEach(function (chip) {
        chip.classList.toggle("up", state === "up");
        chip.classList.toggle("down", state !== "up");
        if (status.checks_text && status.checks_text[name]) chip.textContent = status.checks_text[name];
      });
    }
    if (status.changed && lastChange !== null && status.changed !== lastChange && window.htmx) {
      window.htmx.trigger(body, "yq:changed");
    }
    if (status.changed) lastChange = status.changed;
  }

  function connect() {
    if (body.dataset.live !== "on" || !window.EventSource) return;
    const source = new EventSource("/events?lang=" + encodeURIComponent(lang));
    source.addEventListener("status", function (event) {
      try { apply(JSON.parse(event.data)); } catch (e) { /* a broken event: wait for the next */ }
    });
    setInterval(function () {
      if (Date.now() - lastSeen > OFFLINE_AFTER_MS) setOffline(true);
    }, 1000);
  }

  // A time in a market's zone (KST for KRX, New York for US), for a price chart's axis.
  function zoned(zone, withDay) {
    const format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hour12: false, month: withDay ? "2-digit" : undefined,
      day: withDay ? "2-digit" : undefined, hour: "2-digit", minute: "2-digit",
    });
    return function (time) { return format.format(new Date(time * 1000)); };
  }

  function priceChart() {
    const box = document.getElementById("price-chart");
    if (!box || !window.LightweightCharts) return;
    const data = JSON.parse(document.getElementById(box.dataset.seriesId).textContent);
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    const zone = box.dataset.marketZone || undefined;
    const hour = zoned(zone, false);
    const dayFormat = new Intl.DateTimeFormat("en-CA", { timeZone: zone, month: "2-digit", day: "2-digit" });
    const day = function (time) { return dayFormat.format(new Date(time * 1000)); };
    const chart = window.LightweightCharts.createChart(box, {
      autoSize: true,
      localization: {
        locale: lang === "ko" ? "ko-KR" : "en-GB",
        timeFormatter: zoned(zone, true),
        priceFormatter: function (p) {
          return new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 }).format(p);
        },
      },
      layout: { background: { color: "transparent" }, textColor: dark ? "#e6e9ef" : "#1b1f27" },
      grid: { vertLines: { visible: false }, horzLines: { color: dark ? "#2a303c" : "#e5e8ee" } },
      timeScale: {
        borderVisible: false, timeVisible: true,
        // A day's first mark shows the date (MM/DD), the others the time.
        tickMarkFormatter: function (time, kind) { return kind < 3 ? day(time) : hour(time); },
      },
      rightPriceScale: { borderVisible: false },
    });
    const series = chart.addSeries(window.LightweightCharts.LineSeries, { color: "#0969da", lineWidth: 2 });
    series.setData(data.map(function (p) { return { time: p.time, value: Number(p.value) }; }));
    // The instrument's fills: an arrow up under a buy, down over a sell, with the quantity.
    const box2 = document.getElementById("price-markers");
    if (box2 && window.LightweightCharts.createSeriesMarkers) {
      const words = { buy: box2.dataset.buy || "buy", sell: box2.dataset.sell || "sell" };
      const markers = JSON.parse(box2.textContent).map(function (m) {
        const buy = m.side === "buy";
        return {
          time: m.time, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown",
          color: buy ? "#1a7f37" : "#cf222e", text: words[m.side] + " " + m.quantity,
        };
      });
      window.LightweightCharts.createSeriesMarkers(series, markers);
    }
    chart.timeScale().fitContent();
  }

  function charts() {
    priceChart();
    const box = document.getElementById("baseline-chart");
    if (!box || !window.LightweightCharts) return;
    const data = JSON.parse(document.getElementById(box.dataset.seriesId).textContent);
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    const chart = window.LightweightCharts.createChart(box, {
      autoSize: true,
      localization: {
        locale: lang === "ko" ? "ko-KR" : "en-GB",
        priceFormatter: function (p) {
          return new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }).format(p);
        },
      },
      layout: { background: { color: "transparent" }, textColor: dark ? "#e6e9ef" : "#1b1f27" },
      grid: { vertLines: { visible: false }, horzLines: { color: dark ? "#2a303c" : "#e5e8ee" } },
      timeScale: { borderVisible: false }, rightPriceScale: { borderVisible: false },
    });
    const colors = ["#0969da", "#1a7f37", "#9a6700", "#cf222e", "#8250df"];
    Object.keys(data).forEach(function (name, i) {
      const series = chart.addSeries(window.LightweightCharts.LineSeries,
        { color: colors[i % colors.length], lineWidth: 2, title: name });
      series.setData(data[name].map(function (p) { return { time: p.time, value: Number(p.value) }; }));
    });
    chart.timeScale().fitContent();
  }

  // A form that changes something asks first (its data-confirm names what it does).
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // The /trade lookup: a picked instrument fills the ticker field of its form.
  document.addEventListener("click", function (event) {
    const pick = event.target.closest && event.target.closest("button[data-fill]");
    if (!pick) return;
    const form = pick.closest("form");
    const input = form && form.querySelector("input[name=ticker]");
    if (!input) return;
    input.value = pick.dataset.fill;
    const box = document.getElementById("ticker-lookup");
    if (box) box.innerHTML = "";
    input.focus();
  });

  connect();
  charts();
})();
