//! The InfluxQL client of batch tasks and subscriptions: sends a statement
//! to an InfluxDB 1.x `/query` (POST, form-encoded, `epoch=ns`) on the
//! effects runtime, trying the connection's URLs in turn, and turns the
//! JSON answer into one [`pipeline::Batch`] per series (a `SELECT`) or
//! hands back the series as they came (`SHOW SUBSCRIPTIONS` and the like).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use config::InfluxDbConfig;
use pipeline::{Batch, BatchPoint, FieldValue, Fields, GroupKey, Name};
use serde::Deserialize;

use crate::effects::http_client::{HttpClient, Tls};

/// The largest answer read; a bigger one is an error rather than memory
/// the daemon cannot spare.
pub const MAX_ANSWER_BYTES: usize = 128 << 20;

/// The connection named `cluster`, or the default one (the first when none
/// says it is).
pub fn server_for(
    servers: &[InfluxDbConfig],
    cluster: Option<&str>,
) -> Result<InfluxDbConfig, String> {
    let found = match cluster {
        Some(name) => servers.iter().find(|s| s.name == name),
        None => servers
            .iter()
            .find(|s| s.default)
            .or_else(|| servers.first()),
    };
    found.cloned().ok_or_else(|| match cluster {
        Some(name) => format!("no InfluxDB server named {name:?} in the config's `influxdb`"),
        None => "no InfluxDB server in the config's `influxdb` to query".to_string(),
    })
}

/// An answer from InfluxDB, as it came.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The `/query` URL that answered.
    pub url: String,
    pub body: bytes::Bytes,
}

impl Fetched {
    /// The answer to a `SELECT` as batches, one per series
    /// ([`parse_answer`]).
    pub fn batches(&self, by_measurement: bool) -> Result<Vec<Batch>, String> {
        parse_answer(&self.body, by_measurement).map_err(|e| format!("{}: {e}", self.url))
    }
}

/// Queries one InfluxDB connection.
#[derive(Clone, Debug)]
pub struct QueryClient {
    /// Shared: a connection's config is large, and a client is cloned per
    /// task.
    server: Arc<InfluxDbConfig>,
    http: HttpClient,
}

impl QueryClient {
    pub fn new(server: InfluxDbConfig) -> Self {
        let http = HttpClient::new(Tls::skipping_verification(server.insecure_skip_verify));
        QueryClient {
            server: Arc::new(server),
            http,
        }
    }

    pub fn server(&self) -> &InfluxDbConfig {
        &self.server
    }

    /// Runs `q` (with `db` and `rp` as the defaults for names it does not
    /// qualify) and returns its series as batches; `by_measurement` puts
    /// the measurement in each batch's group. Each batch's `tmax` is its
    /// last point's time. Must run on the effects runtime.
    pub async fn query(
        &self,
        q: &str,
        db: Option<&str>,
        rp: Option<&str>,
        by_measurement: bool,
    ) -> Result<Vec<Batch>, String> {
        self.fetch(q, db, rp).await?.batches(by_measurement)
    }

    /// Runs `q` (a `SHOW …`, `CREATE …` or `DROP …` as much as a `SELECT`)
    /// and returns its series as InfluxDB sent them. Must run on the
    /// effects runtime.
    pub async fn execute(&self, q: &str) -> Result<Vec<Series>, String> {
        let answer = self.fetch(q, None, None).await?;
        parse_series(&answer.body).map_err(|e| format!("{}: {e}", answer.url))
    }

    /// POSTs `q` (with `db` and `rp` as the defaults for names it does
    /// not qualify) to `/query` of each URL in turn until one answers, and
    /// returns its answer. Must run on the effects runtime.
    pub async fn fetch(
        &self,
        q: &str,
        db: Option<&str>,
        rp: Option<&str>,
    ) -> Result<Fetched, String> {
        let mut form = vec![("q", q), ("epoch", "ns")];
        if let Some(db) = db.filter(|d| !d.is_empty()) {
            form.push(("db", db));
        }
        if let Some(rp) = rp.filter(|r| !r.is_empty()) {
            form.push(("rp", rp));
        }
        let body = serde_urlencoded::to_string(&form).unwrap_or_default();
        let mut headers = vec![(
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )];
        if !self.server.username.is_empty() {
            headers.push((
                "authorization".into(),
                crate::effects::endpoints::basic_auth(&self.server.username, &self.server.password),
            ));
        }
        let mut last = String::from("the connection has no URLs");
        for (i, base) in self.server.urls.iter().enumerate() {
            let url = format!("{}/query", base.trim_end_matches('/'));
            let more = i + 1 < self.server.urls.len();
            match self
                .http
                .send(
                    hyper::Method::POST,
                    &url,
                    &headers,
                    body.clone().into_bytes(),
                    self.server.timeout,
                    MAX_ANSWER_BYTES,
                )
                .await
            {
                Err(e) => last = e,
                Ok((status, answer)) if status >= 500 && more => {
                    last = http_error(&url, status, &answer);
                }
                Ok((status, answer)) if !(200..300).contains(&status) => {
                    return Err(http_error(&url, status, &answer));
                }
                Ok((_, body)) => return Ok(Fetched { url, body }),
            }
        }
        Err(last)
    }
}

fn http_error(url: &str, status: u16, body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Answer<serde::de::IgnoredAny>>(body) {
        Ok(Answer { error: Some(e), .. }) => e,
        _ => {
            let t = String::from_utf8_lossy(&body[..body.len().min(512)]);
            t.trim().to_string()
        }
    };
    format!("{url}: InfluxDB answered {status}: {text}")
}

/// A `/query` answer whose series are read as `S`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
struct Answer<S> {
    #[serde(default = "Vec::new")]
    results: Vec<StatementResult<S>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
struct StatementResult<S> {
    #[serde(default = "Vec::new")]
    series: Vec<S>,
    #[serde(default)]
    error: Option<String>,
}

/// Every statement's series, in turn; the first error (of the answer or a
/// statement) is the result.
fn statements<'de, S: Deserialize<'de>>(body: &'de [u8]) -> Result<Vec<S>, String> {
    let answer: Answer<S> =
        serde_json::from_slice(body).map_err(|e| format!("malformed answer from InfluxDB: {e}"))?;
    if let Some(e) = answer.error {
        return Err(format!("InfluxDB: {e}"));
    }
    let mut out = Vec::new();
    for result in answer.results {
        if let Some(e) = result.error {
            return Err(format!("InfluxDB: {e}"));
        }
        out.extend(result.series);
    }
    Ok(out)
}

/// One series of a `/query` answer, as InfluxDB sent it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Series {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

impl Series {
    /// The values of column `name`, one per row (`Null` where a row has
    /// none); empty when there is no such column.
    pub fn column(&self, name: &str) -> Vec<&serde_json::Value> {
        let Some(i) = self.columns.iter().position(|c| c == name) else {
            return Vec::new();
        };
        self.values
            .iter()
            .map(|row| row.get(i).unwrap_or(&serde_json::Value::Null))
            .collect()
    }
}

/// The series of an InfluxDB 1.x `/query` JSON answer, every statement's
/// in turn; the first error (of the answer or a statement) is the result.
pub fn parse_series(body: &[u8]) -> Result<Vec<Series>, String> {
    statements(body)
}

/// An InfluxDB 1.x `/query` JSON answer as batches, one per series. A
/// batch query's answer can hold many thousands of series, so they are
/// read borrowing from the answer, and what repeats from one series to
/// the next (the measurement, tag keys, columns) is made once.
pub fn parse_answer(body: &[u8], by_measurement: bool) -> Result<Vec<Batch>, String> {
    let series: Vec<RawSeries<'_>> = statements(body)?;
    let mut names = Names::default();
    series
        .into_iter()
        .map(|s| to_batch(s, by_measurement, &mut names))
        .collect()
}

/// A series of a `SELECT`'s answer, its strings borrowed from the answer
/// where they have no escapes.
#[derive(Deserialize)]
struct RawSeries<'a> {
    #[serde(default, borrow)]
    name: Text<'a>,
    #[serde(default, borrow, deserialize_with = "tag_pairs")]
    tags: Vec<(Text<'a>, Text<'a>)>,
    #[serde(default, borrow)]
    columns: Vec<Text<'a>>,
    #[serde(default, borrow)]
    values: Vec<Vec<Cell<'a>>>,
}

/// A string of the answer: borrowed unless it had escapes.
#[derive(Default, PartialEq)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A series' `tags` object as pairs, in the answer's order.
fn tag_pairs<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(Text<'de>, Text<'de>)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(Text<'de>, Text<'de>)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of tag values")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1));
            while let Some(pair) = map.next_entry()? {
                out.push(pair);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// One value of a row.
enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(Cow<'a, str>),
    /// An array or object: no field value.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value")
            }
            fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Cell<'de>, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Cell<'de>, E> {
                Ok(i64::try_from(v).map_or(Cell::Float(v as f64), Cell::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Cell<'de>, E> {
                Ok(Cell::Float(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Cell<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Cell::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Cell<'de>, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Cell::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Float(x) => write!(f, "{x}"),
            Cell::Bool(b) => write!(f, "{b}"),
            Cell::Text(t) => write!(f, "{t:?}"),
            Cell::Other => f.write_str("an array or object"),
        }
    }
}

/// The names one answer repeats from series to series, made once: the
/// measurement, tag keys, and the field keys of a set of columns.
#[derive(Default)]
struct Names {
    measurement: Option<Name>,
    tag_keys: Vec<Name>,
    /// The last series' columns and their field keys (all but `time`).
    columns: Vec<String>,
    keys: Option<Arc<[Name]>>,
}

impl Names {
    fn measurement(&mut self, text: &str) -> Name {
        match &self.measurement {
            Some(n) if &**n == text => n.clone(),
            _ => {
                let n = Name::from(text);
                self.measurement = Some(n.clone());
                n
            }
        }
    }

    fn tag_key(&mut self, text: &str) -> Name {
        if let Some(n) = self.tag_keys.iter().find(|n| &***n == text) {
            return n.clone();
        }
        let n = Name::from(text);
        // A handful at most; a pathological answer does not grow it.
        if self.tag_keys.len() < 64 {
            self.tag_keys.push(n.clone());
        }
        n
    }

    /// The field keys of `columns` without the one at `time`.
    fn keys(&mut self, columns: &[Text<'_>], time: usize) -> Arc<[Name]> {
        if let Some(keys) = &self.keys
            && self.columns.len() == columns.len()
            && self.columns.iter().zip(columns).all(|(a, b)| *a == *b.0)
        {
            return keys.clone();
        }
        let keys: Arc<[Name]> = columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != time)
            .map(|(_, c)| Name::from(&*c.0))
            .collect();
        self.columns = columns.iter().map(|c| c.0.to_string()).collect();
        self.keys = Some(keys.clone());
        keys
    }
}

fn to_batch(
    series: RawSeries<'_>,
    by_measurement: bool,
    names: &mut Names,
) -> Result<Batch, String> {
    let name = names.measurement(&series.name.0);
    let Some(time_col) = series.columns.iter().position(|c| c.0 == "time") else {
        return Err(format!("series {:?} has no time column", series.name.0));
    };
    let mut tags: Vec<(Name, Name)> = series
        .tags
        .iter()
        .map(|(k, v)| (names.tag_key(&k.0), Name::from(&*v.0)))
        .collect();
    // Sorted by key, as InfluxDB sends them: a group's identity.
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    let tags: pipeline::Tags = tags.into();
    let group = GroupKey::from_parts(by_measurement.then(|| name.clone()), tags.clone());
    let keys = names.keys(&series.columns, time_col);
    let mut points = Vec::with_capacity(series.values.len());
    for row in series.values {
        let time = match row.get(time_col) {
            Some(Cell::Int(t)) => *t,
            Some(Cell::Text(s)) => pipeline::time::parse_rfc3339(s)?,
            Some(other) => {
                return Err(format!(
                    "series {:?}: time {other} is not an integer",
                    series.name.0
                ));
            }
            None => return Err(format!("series {:?}: a row has no time", series.name.0)),
        };
        let mut values = Vec::with_capacity(keys.len());
        let mut complete = true;
        for (i, cell) in row.into_iter().enumerate() {
            if i == time_col {
                continue;
            }
            values.push(match cell {
                Cell::Null => {
                    complete = false;
                    None
                }
                // Numbers are floats, as Kapacitor reads them.
                Cell::Int(n) => Some(FieldValue::Float(n as f64)),
                Cell::Float(x) => Some(FieldValue::Float(x)),
                Cell::Text(t) => Some(FieldValue::String(Arc::from(&*t))),
                Cell::Bool(b) => Some(FieldValue::Boolean(b)),
                Cell::Other => {
                    let key = keys.get(values.len()).map_or("?", |k| &**k);
                    return Err(format!(
                        "series {:?}: column {key:?} has an unsupported value (an array or object)",
                        series.name.0
                    ));
                }
            });
        }
        complete &= values.len() == keys.len();
        let fields = if complete {
            Fields::new(keys.clone(), values.into_iter().flatten().collect())
        } else {
            // Nulls are left out.
            let pairs: Vec<(Name, FieldValue)> = keys
                .iter()
                .zip(values)
                .filter_map(|(k, v)| Some((k.clone(), v?)))
                .collect();
            // A row of nulls (an empty bucket under fill(null)) is no point.
            if pairs.is_empty() {
                continue;
            }
            Fields::from_pairs(pairs)
        };
        points.push(BatchPoint {
            time,
            fields,
            tags: tags.clone(),
        });
    }
    let tmax = points.iter().map(|p| p.time).max().unwrap_or(i64::MIN);
    Ok(Batch {
        name,
        tmax,
        group,
        tags,
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_become_batches_grouped_by_their_tags() {
        // As influxd 1.6.7 answers `SELECT mean(value) … GROUP BY host` with epoch=ns.
        let body = br#"{"results":[{"statement_id":0,"series":[
            {"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1700000000000000000,12.5]]},
            {"name":"cpu","tags":{"host":"b"},"columns":["time","mean","n"],"values":[[1700000000000000000,3,null],[1700000010000000000,null,null]]}
        ]}]}"#;
        let batches = parse_answer(body, false).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].name.as_ref(), "cpu");
        assert_eq!(batches[0].group.to_string(), "host=a");
        assert_eq!(batches[0].tmax, 1_700_000_000_000_000_000);
        assert_eq!(
            batches[0].points[0].fields.get("mean"),
            Some(&FieldValue::Float(12.5))
        );
        // Nulls are left out; a row of nothing but nulls is no point.
        assert_eq!(batches[1].points.len(), 1);
        assert_eq!(batches[1].points[0].fields.len(), 1);
        assert_eq!(
            batches[1].points[0].fields.get("mean"),
            Some(&FieldValue::Float(3.0))
        );
        let by_name = parse_answer(body, true).unwrap();
        assert_eq!(by_name[0].group.to_string(), "cpu\nhost=a");
    }

    #[test]
    fn escaped_strings_text_and_booleans_and_rfc3339_times_are_read() {
        let body = br#"{"results":[{"statement_id":0,"series":[
            {"name":"c\"pu","tags":{"z":"1","host":"a\nb"},"columns":["time","s","ok"],
             "values":[["2023-11-14T22:13:20Z","x\ty",true]]},
            {"name":"c\"pu","tags":{"host":"c","z":"2"},"columns":["time","s","ok"],
             "values":[[1700000000000000001,"plain",false]]}
        ]}]}"#;
        let batches = parse_answer(body, true).unwrap();
        assert_eq!(batches[0].name.as_ref(), "c\"pu");
        // Tags in key order, whatever the answer's.
        assert_eq!(batches[0].group.to_string(), "c\"pu\nhost=a\nb,z=1");
        let p = &batches[0].points[0];
        assert_eq!(p.time, 1_700_000_000_000_000_000);
        assert_eq!(
            p.fields.get("s"),
            Some(&FieldValue::String(Arc::from("x\ty")))
        );
        assert_eq!(p.fields.get("ok"), Some(&FieldValue::Boolean(true)));
        let q = &batches[1].points[0];
        assert_eq!(q.time, 1_700_000_000_000_000_001);
        assert_eq!(q.fields.get("ok"), Some(&FieldValue::Boolean(false)));
        let nested =
            br#"{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[[1,[2]]]}]}]}"#;
        assert_eq!(
            parse_answer(nested, false).unwrap_err(),
            "series \"m\": column \"v\" has an unsupported value (an array or object)"
        );
        let float_time =
            br#"{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[[1.5,2]]}]}]}"#;
        assert_eq!(
            parse_answer(float_time, false).unwrap_err(),
            "series \"m\": time 1.5 is not an integer"
        );
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(
            parse_answer(
                br#"{"results":[{"statement_id":0,"error":"database not found: nope"}]}"#,
                false
            )
            .unwrap_err(),
            "InfluxDB: database not found: nope"
        );
        assert_eq!(
            parse_answer(br#"{"error":"error parsing query: found EOF"}"#, false).unwrap_err(),
            "InfluxDB: error parsing query: found EOF"
        );
        assert!(
            parse_answer(b"<html>", false)
                .unwrap_err()
                .starts_with("malformed answer from InfluxDB")
        );
        assert_eq!(
            parse_answer(br#"{"results":[{"statement_id":0}]}"#, false).unwrap(),
            vec![]
        );
        assert_eq!(
            http_error(
                "http://x/query",
                401,
                br#"{"error":"authorization failed"}"#
            ),
            "http://x/query: InfluxDB answered 401: authorization failed"
        );
    }
}
