//! The page's files, compiled into the binary: nothing is read from disk, so no request can reach
//! a file outside them.

/// `(path, content type, body)` of every asset.
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../assets/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_str!("../assets/app.js")),
    ("/app.css", "text/css; charset=utf-8", include_str!("../assets/app.css")),
    ("/favicon.svg", "image/svg+xml", include_str!("../assets/favicon.svg")),
    ("/chart.js", "text/javascript; charset=utf-8", include_str!("../assets/chart.js")),
    ("/chart.css", "text/css; charset=utf-8", include_str!("../assets/chart.css")),
    (
        "/vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/vendor/uplot/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../assets/vendor/uplot/uPlot.min.css"),
    ),
];

/// The asset at exactly `path`.
pub fn find(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, t, b)| (*t, *b))
}
