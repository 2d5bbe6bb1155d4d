//! The InfluxQL client of batch tasks and subscriptions: sends a statement
//! to an InfluxDB 1.x `/query` (POST, form-encoded, `epoch=ns`) on the
//! effects runtime, trying the connection's URLs in turn, and turns the
//! JSON answer into one [`pipeline::Batch`] per series (a `SELECT`) or
//! hands back the series as they came (`SHOW SUBSCRIPTIONS` and the like).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A query's batches, and where its time went.
#[derive(Debug)]
pub struct Answered {
    pub batches: Vec<Batch>,
    /// From sending the request to having the whole answer: InfluxDB's
    /// time, and the transfer's.
    pub answer_time: Duration,
    /// Reading the answer into batches.
    pub parse_time: Duration,
}

/// Queries one InfluxDB connection.
#[derive(Clone, Debug)]
pub struct QueryClient {
    server: InfluxDbConfig,
    http: HttpClient,
}

impl QueryClient {
    pub fn new(server: InfluxDbConfig) -> Self {
        let http = HttpClient::new(Tls::skipping_verification(server.insecure_skip_verify));
        QueryClient { server, http }
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
    ) -> Result<Answered, String> {
        let started = Instant::now();
        let (url, answer) = self.post(q, db, rp).await?;
        let answer_time = started.elapsed();
        let batches = parse_answer(&answer, by_measurement).map_err(|e| format!("{url}: {e}"))?;
        Ok(Answered {
            batches,
            answer_time,
            parse_time: started.elapsed() - answer_time,
        })
    }

    /// Runs `q` (a `SHOW …`, `CREATE …` or `DROP …` as much as a `SELECT`)
    /// and returns its series as InfluxDB sent them. Must run on the
    /// effects runtime.
    pub async fn execute(&self, q: &str) -> Result<Vec<Series>, String> {
        let (url, answer) = self.post(q, None, None).await?;
        parse_series(&answer).map_err(|e| format!("{url}: {e}"))
    }

    /// POSTs `q` to `/query` of each URL in turn until one answers, and
    /// returns which one and its answer.
    async fn post(
        &self,
        q: &str,
        db: Option<&str>,
        rp: Option<&str>,
    ) -> Result<(String, bytes::Bytes), String> {
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
                Ok((_, answer)) => return Ok((url, answer)),
            }
        }
        Err(last)
    }
}

fn http_error(url: &str, status: u16, body: &[u8]) -> String {
    let text = match serde_json::from_slice::<Answer>(body) {
        Ok(Answer { error: Some(e), .. }) => e,
        _ => {
            let t = String::from_utf8_lossy(&body[..body.len().min(512)]);
            t.trim().to_string()
        }
    };
    format!("{url}: InfluxDB answered {status}: {text}")
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
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
    let answer: Answer =
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

/// An InfluxDB 1.x `/query` JSON answer as batches, one per series.
pub fn parse_answer(body: &[u8], by_measurement: bool) -> Result<Vec<Batch>, String> {
    parse_series(body)?
        .into_iter()
        .map(|series| to_batch(series, by_measurement))
        .collect()
}

fn to_batch(series: Series, by_measurement: bool) -> Result<Batch, String> {
    let name = Name::from(series.name.as_str());
    let Some(time_col) = series.columns.iter().position(|c| c == "time") else {
        return Err(format!("series {:?} has no time column", series.name));
    };
    let tags: Vec<(Name, Name)> = series
        .tags
        .iter()
        .map(|(k, v)| (Name::from(k.as_str()), Name::from(v.as_str())))
        .collect();
    let tags: pipeline::Tags = tags.into();
    let group = GroupKey::from_parts(by_measurement.then(|| name.clone()), tags.clone());
    let keys: Vec<(usize, Name)> = series
        .columns
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != time_col)
        .map(|(i, c)| (i, Name::from(c.as_str())))
        .collect();
    let mut points = Vec::with_capacity(series.values.len());
    for row in series.values {
        let time = match row.get(time_col) {
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| format!("series {:?}: time {n} is not an integer", series.name))?,
            Some(serde_json::Value::String(s)) => pipeline::time::parse_rfc3339(s)?,
            other => {
                return Err(format!(
                    "series {:?}: a row has no time ({other:?})",
                    series.name
                ));
            }
        };
        let mut pairs = Vec::with_capacity(keys.len());
        for (i, key) in &keys {
            let value = match row.get(*i) {
                None | Some(serde_json::Value::Null) => continue,
                // Numbers are floats, as Kapacitor reads them.
                Some(serde_json::Value::Number(n)) => {
                    FieldValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
                Some(serde_json::Value::String(s)) => FieldValue::String(Arc::from(s.as_str())),
                Some(serde_json::Value::Bool(b)) => FieldValue::Boolean(*b),
                Some(other) => {
                    return Err(format!(
                        "series {:?}: column {key:?} has an unsupported value {other}",
                        series.name
                    ));
                }
            };
            pairs.push((key.clone(), value));
        }
        // A row of nulls (an empty bucket under fill(null)) is no point.
        if pairs.is_empty() {
            continue;
        }
        points.push(BatchPoint {
            time,
            fields: Fields::from_pairs(pairs),
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
