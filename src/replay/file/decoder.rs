//! Decodes version 2 frames ([`super::frames`]) into points, keeping the
//! numbering of series, key lists and dbrps from one frame to the next: a
//! decoder must see every frame of a file, in order.

use std::sync::Arc;

use pipeline::{DbRp, FieldValue, Fields, Name, Point, Series};

use super::frames::{
    Corrupt, Cursor, FALSE, FLOAT, INTEGER, RESET, STRING, TRUE, UNSIGNED, unzigzag,
};

/// The numbering so far, and a buffer for a point's values.
#[derive(Default)]
pub struct FrameDecoder {
    dbrps: Vec<DbRp>,
    series: Vec<Arc<Series>>,
    keys: Vec<Arc<[Name]>>,
    values: Vec<FieldValue>,
}

impl FrameDecoder {
    /// Appends the points of a frame's payload (its checksum checked) to
    /// `out`; gives their database and retention policy.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Point>) -> Result<DbRp, Corrupt> {
        let mut c = Cursor {
            bytes: payload,
            pos: 0,
        };
        if c.u8()? & RESET != 0 {
            self.dbrps.clear();
            self.series.clear();
            self.keys.clear();
        }
        let count = c.u32()?;
        let dbrp = match c.len()? {
            id if id == self.dbrps.len() => {
                let dbrp = DbRp::new(c.str()?, c.str()?);
                self.dbrps.push(dbrp.clone());
                dbrp
            }
            id => self.dbrps.get(id).ok_or("an unknown dbrp")?.clone(),
        };
        // A point takes at least four bytes: no more room than that.
        out.reserve((count as usize).min(payload.len() / 4));
        let mut time = 0i64;
        for _ in 0..count {
            let series = self.series(&mut c)?;
            let keys = self.key_list(&mut c)?;
            time = time.wrapping_add(unzigzag(c.varint()?));
            self.values.clear();
            for _ in 0..keys.len() {
                let value = match c.u8()? {
                    FLOAT => FieldValue::Float(c.f64()?),
                    INTEGER => FieldValue::Integer(unzigzag(c.varint()?)),
                    UNSIGNED => FieldValue::Unsigned(c.varint()?),
                    STRING => FieldValue::String(c.name()?),
                    FALSE => FieldValue::Boolean(false),
                    TRUE => FieldValue::Boolean(true),
                    _ => return Err("an unknown value type"),
                };
                self.values.push(value);
            }
            out.push(Point {
                series,
                fields: Fields::new(keys, self.values.drain(..).collect()),
                time,
            });
        }
        if c.pos != payload.len() {
            return Err("bytes after the last point");
        }
        Ok(dbrp)
    }

    fn series(&mut self, c: &mut Cursor<'_>) -> Result<Arc<Series>, Corrupt> {
        let id = c.len()?;
        if let Some(s) = self.series.get(id) {
            return Ok(s.clone());
        }
        if id != self.series.len() {
            return Err("an unknown series");
        }
        let measurement = c.name()?;
        let n = c.len()?;
        let mut tags = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            tags.push((c.name()?, c.name()?));
        }
        let series = Arc::new(Series::new(measurement, tags).map_err(|_| "a bad series")?);
        self.series.push(series.clone());
        Ok(series)
    }

    fn key_list(&mut self, c: &mut Cursor<'_>) -> Result<Arc<[Name]>, Corrupt> {
        let id = c.len()?;
        if let Some(k) = self.keys.get(id) {
            return Ok(k.clone());
        }
        if id != self.keys.len() {
            return Err("an unknown key list");
        }
        let n = c.len()?;
        let mut keys = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            keys.push(c.name()?);
        }
        let keys: Arc<[Name]> = keys.into();
        self.keys.push(keys.clone());
        Ok(keys)
    }
}
