//! The benchmark runs end to end: a tiny run of every scenario produces the JSON shape the
//! issue asks for, with finite positive numbers (timings are never compared to thresholds).

mod shape;
