//! Shared by the `card` and `options` targets: the fuzz input as `KEY=VALUE` lines, where a
//! numeric KEY picks one of the known keys, so that the fuzzer spends its time in the value
//! parsers rather than on unknown names.

pub fn settings(data: &[u8], known: &[&str]) -> Vec<(String, String)> {
    String::from_utf8_lossy(data)
        .lines()
        .map(|line| {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            let key = match k.parse::<usize>() {
                Ok(i) => known[i % known.len()].to_string(),
                Err(_) => k.to_string(),
            };
            (key, v.to_string())
        })
        .collect()
}
