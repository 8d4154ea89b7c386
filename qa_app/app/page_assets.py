"""The pages' scripts and style sheet (markup made here only; nothing in them comes from an article)."""

from __future__ import annotations

from qa_app.app.article_view import MARK_ID

SCROLL_SCRIPT = f"""
<script>
(function () {{
  var tries = 0;
  var timer = setInterval(function () {{
    var mark = document.getElementById("{MARK_ID}");
    if (mark || ++tries > 100) {{
      clearInterval(timer);
      if (mark) mark.scrollIntoView({{block: "center"}});
    }}
  }}, 100);
}})();
</script>
"""


CHART_SCRIPT = """
<script>
(function () {
  // a chart's toolbar (data, PNG, spec, fullscreen): there for the mouse, not four stops on every Tab
  if (!window.qaQuietCharts) {
    window.qaQuietCharts = true;
    var quiet = function () {
      var chart = "[data-testid='stFullScreenFrame']:has([data-testid='stVegaLiteChart'])";
      document.querySelectorAll(chart + " [data-testid='stElementToolbar'] button").forEach(function (button) {
        if (button.tabIndex !== -1) button.tabIndex = -1;
      });
    };
    new MutationObserver(quiet).observe(document.body, {childList: true, subtree: true});
    quiet();
  }
})();
</script>
"""


CHAT_SCRIPT = """
<script>
(function () {
  // [n] markers: scroll to their source card and flash it (the href is the fallback without this script)
  if (!window.qaCiteLinks) {
    window.qaCiteLinks = true;
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.qa-marker[href^='#qa-cite-']") : null;
      var card = link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
      if (!card) return;
      event.preventDefault();
      card.scrollIntoView({block: "center", behavior: "smooth"});
      card.classList.remove("qa-flash");
      void card.offsetWidth;  // restart the animation
      card.classList.add("qa-flash");
      card.focus({preventScroll: true});
    });
  }
  // the chat box takes the keyboard when the page opens, unless the reader is already somewhere else
  var tries = 0;
  var timer = setInterval(function () {
    var box = document.querySelector("[data-testid='stChatInputTextArea']");
    if ((box && !box.disabled) || ++tries > 100) {
      clearInterval(timer);
      var idle = !document.activeElement || document.activeElement === document.body;
      if (box && !box.disabled && idle) box.focus();
    }
  }, 100);
})();
</script>
"""


# Colours: text inherits the theme's (light or dark, from the reader's system setting); only badges and
# highlights, which bring their own background, set a text colour.
CSS = """
<style>
.qa-card { border-radius: .4rem; outline: 2px solid transparent; outline-offset: .35rem; }
.qa-card:focus { outline-color: transparent; }
.qa-card.qa-flash, .qa-card:target { animation: qa-flash 2.4s ease-out; }
@keyframes qa-flash { 0%, 60% { outline-color: #1f5fa8; background: rgba(31, 95, 168, .12); } }
.qa-card-title { font-weight: 600; line-height: 1.3; margin-bottom: .15rem; }
.qa-card-meta { opacity: .78; font-size: .85rem; margin-bottom: .4rem; }
.qa-card-quote { font-size: .92rem; line-height: 1.5; }
.qa-answer { font-size: 1.02rem; line-height: 1.6; }
mark.qa-quote { background: #fff1a8; color: #1d1d1d; padding: 0 .1em; border-radius: 2px; }
.qa-marker { display: inline-block; font-size: .72rem; font-weight: 600; color: #1f5fa8; background: #e6effa;
             border-radius: .6rem; padding: 0 .4rem; margin-left: .1rem; vertical-align: super; line-height: 1.3;
             text-decoration: none; white-space: nowrap; }
a.qa-marker:hover, a.qa-marker:focus-visible { background: #1f5fa8; color: #ffffff; }
a.qa-marker:focus-visible { outline: 2px solid #1f5fa8; outline-offset: 1px; }
.qa-cite { position: relative; }
.qa-preview { display: none; position: absolute; left: 0; top: 1.6em; z-index: 20; width: min(24rem, 70vw);
              padding: .45rem .6rem; border-radius: .35rem; background: #1d2733; color: #f4f6f8;
              font-size: .82rem; line-height: 1.45; font-weight: 400; box-shadow: 0 4px 14px rgba(0, 0, 0, .25); }
.qa-cite:hover .qa-preview, .qa-cite:focus-within .qa-preview { display: block; }
.qa-article { white-space: pre-wrap; font-family: Georgia, "Times New Roman", serif; font-size: 1.05rem;
              line-height: 1.7; max-width: 46rem; }
.qa-title { font-size: 1.9rem; line-height: 1.25; margin: 0 0 .3rem 0; padding: 0; }
table.qa-meta { font-size: .85rem; border-collapse: collapse; width: 100%; }
table.qa-meta th { text-align: left; opacity: .78; font-weight: 500; padding: .2rem .6rem .2rem 0;
                   vertical-align: top; white-space: nowrap; }
table.qa-meta td { padding: .2rem 0; overflow-wrap: anywhere; }
</style>
"""
