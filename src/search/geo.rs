//! GEO fields as Redis and RediSearch compute them: coordinates become a 52-bit geohash (the
//! value RediSearch indexes and sorts by), distances are taken from the hash's cell centre
//! with Redis's haversine (`geohashGetDistance`, Earth radius 6372797.560856 m), so a point
//! is inside a radius exactly when RediSearch says it is. Pure; no Redis.

/// Redis's geohash bounds (`GEO_LAT_MIN` … in geohash.h): Web Mercator's latitude limit.
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
const STEP: u32 = 26;
const EARTH_RADIUS_M: f64 = 6372797.560856;

/// A distance unit of a geo filter, with its length in metres (RediSearch's factors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    M,
    Km,
    Mi,
    Ft,
}

impl Unit {
    /// `m`, `km`, `mi` or `ft`, in any case.
    pub fn parse(word: &[u8]) -> Option<Unit> {
        match word.to_ascii_lowercase().as_slice() {
            b"m" => Some(Unit::M),
            b"km" => Some(Unit::Km),
            b"mi" => Some(Unit::Mi),
            b"ft" => Some(Unit::Ft),
            _ => None,
        }
    }

    pub fn metres(self) -> f64 {
        match self {
            Unit::M => 1.0,
            Unit::Km => 1000.0,
            Unit::Mi => 1609.34,
            Unit::Ft => 0.3048,
        }
    }
}

pub fn valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// A document's `lon,lat` (or `lon lat`) as RediSearch reads it: split at the first space or
/// comma, each side read like `strtod` (an empty side is 0, leading blanks on the second side
/// are skipped, nothing may trail), inside the geohash bounds.
pub fn parse_point(raw: &[u8]) -> Option<(f64, f64)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (lon, lat) = text.split_once([' ', ','])?;
    let number = |s: &str| -> Option<f64> {
        let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
        if s.is_empty() {
            return Some(0.0);
        }
        s.parse::<f64>().ok().filter(|n| !n.is_nan())
    };
    // The first side ends at the first space, so only the second can have leading blanks.
    let (lon, lat) = (number(lon)?, number(lat)?);
    valid(lon, lat).then_some((lon, lat))
}

fn interleave(x: u32, y: u32) -> u64 {
    let spread = |v: u32| -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    };
    spread(x) | (spread(y) << 1)
}

fn deinterleave(bits: u64) -> (u32, u32) {
    let squash = |v: u64| -> u32 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        ((v | (v >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
    };
    (squash(bits), squash(bits >> 1))
}

/// The 52-bit geohash of a valid point (`geohashEncodeWGS84` at step 26): latitude in the
/// even bits, longitude in the odd ones.
pub fn encode(lon: f64, lat: f64) -> u64 {
    let scale = f64::from(1u32 << STEP);
    let lat_offset = ((lat - LAT_MIN) / (LAT_MAX - LAT_MIN) * scale) as u32;
    let lon_offset = ((lon - LON_MIN) / (LON_MAX - LON_MIN) * scale) as u32;
    interleave(lat_offset, lon_offset)
}

/// The centre of a geohash's cell (`geohashDecodeToLongLatWGS84`).
pub fn decode(bits: u64) -> (f64, f64) {
    let (ilat, ilon) = deinterleave(bits);
    let scale = f64::from(1u32 << STEP);
    let side = |i: u32, min: f64, max: f64| -> f64 {
        let lo = min + (f64::from(i) / scale) * (max - min);
        let hi = min + ((f64::from(i) + 1.0) / scale) * (max - min);
        ((lo + hi) / 2.0).clamp(min, max)
    };
    (side(ilon, LON_MIN, LON_MAX), side(ilat, LAT_MIN, LAT_MAX))
}

/// Redis's `geohashGetDistance`, in metres.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (lat1r, lat2r) = (lat1.to_radians(), lat2.to_radians());
    let v = ((lon2.to_radians() - lon1.to_radians()) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS_M * (lat2r - lat1r).abs();
    }
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Whether the point indexed as `hash` lies within `radius_m` of (`lon`, `lat`).
pub fn within(hash: u64, lon: f64, lat: f64, radius_m: f64) -> bool {
    let (plon, plat) = decode(hash);
    distance(lon, lat, plon, plat) <= radius_m
}

/// The geohash ranges (half-open) that hold every point within `radius_m` of (`lon`, `lat`):
/// the cells, at the finest step whose cells are at least as large as the circle's bounding
/// box, that the box overlaps (at most four). `None` when the box reaches a pole or crosses
/// the antimeridian: the caller then checks every point.
pub fn cover(lon: f64, lat: f64, radius_m: f64) -> Option<Vec<(u64, u64)>> {
    if !(radius_m.is_finite() && radius_m >= 0.0) {
        return None;
    }
    // A little more than the radius: the points compared are cell centres, and a box edge
    // must not fall on the wrong side of a cell boundary by rounding.
    let dlat = (radius_m / EARTH_RADIUS_M).to_degrees() * 1.0001 + 1e-7;
    let (lat_lo, lat_hi) = (lat - dlat, lat + dlat);
    if lat_lo <= LAT_MIN || lat_hi >= LAT_MAX {
        return None;
    }
    let widest = lat_lo.abs().max(lat_hi.abs()).to_radians().cos();
    if widest <= 1e-9 {
        return None;
    }
    let dlon = dlat / widest;
    let (lon_lo, lon_hi) = (lon - dlon, lon + dlon);
    if lon_lo <= LON_MIN || lon_hi >= LON_MAX {
        return None;
    }
    let (lat_span, lon_span) = (LAT_MAX - LAT_MIN, LON_MAX - LON_MIN);
    let mut step = STEP;
    while step > 0
        && (lat_span / f64::from(1u32 << step) < 2.0 * dlat
            || lon_span / f64::from(1u32 << step) < 2.0 * dlon)
    {
        step -= 1;
    }
    let cells = f64::from(1u32 << step);
    let max = (1u32 << step) - 1;
    let index = |v: f64, min: f64, span: f64| -> u32 {
        (((v - min) / span * cells).floor().max(0.0) as u32).min(max)
    };
    let shift = STEP - step;
    let width = 1u64 << (2 * shift);
    let mut out = Vec::with_capacity(4);
    for ilat in index(lat_lo, LAT_MIN, lat_span)..=index(lat_hi, LAT_MIN, lat_span) {
        for ilon in index(lon_lo, LON_MIN, lon_span)..=index(lon_hi, LON_MIN, lon_span) {
            let base = interleave(ilat << shift, ilon << shift);
            out.push((base, base + width));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_redis_geodist() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania;
        // GEODIST Sicily Palermo Catania -> 166274.1516 (the Redis documentation's example).
        let (a, b) = (encode(13.361389, 38.115556), encode(15.087269, 37.502669));
        let ((lon1, lat1), (lon2, lat2)) = (decode(a), decode(b));
        assert!((distance(lon1, lat1, lon2, lat2) - 166274.1516).abs() < 0.001);
        // GEOPOS Sicily Palermo -> 13.36138933897018433 38.11555639549629859
        assert!((lon1 - 13.361389338970184).abs() < 1e-12);
        assert!((lat1 - 38.1155563954963).abs() < 1e-12);
    }

    #[test]
    fn points_are_read_as_redisearch_reads_them() {
        assert_eq!(
            parse_point(b"-122.4194,37.7749"),
            Some((-122.4194, 37.7749))
        );
        assert_eq!(parse_point(b"2.3522 48.8566"), Some((2.3522, 48.8566)));
        assert_eq!(parse_point(b",37"), Some((0.0, 37.0)));
        assert_eq!(parse_point(b"1,"), Some((1.0, 0.0)));
        assert_eq!(parse_point(b"1, 2"), Some((1.0, 2.0)));
        assert_eq!(parse_point(b"1e1,2e1"), Some((10.0, 20.0)));
        assert_eq!(parse_point(b"180,85.05112878"), Some((180.0, 85.05112878)));
        for bad in [
            &b"1 ,2"[..],
            b"inf,2",
            b"180.0000001,0",
            b"1\t2",
            b"10,90",
            b"abc",
            b"",
            b" -122.4,37.7",
            b"-122.4194,37.7749,5",
            b"nan,1",
        ] {
            assert_eq!(parse_point(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn encode_decode_round_trip_within_a_cell() {
        for (lon, lat) in [
            (0.0, 0.0),
            (-180.0, -85.05112878),
            (179.99, 85.0),
            (-122.4194, 37.7749),
        ] {
            let (dlon, dlat) = decode(encode(lon, lat));
            assert!(
                (dlon - lon).abs() < 1e-5 && (dlat - lat).abs() < 1e-5,
                "{lon} {lat}"
            );
        }
        assert_eq!(Unit::parse(b"KM"), Some(Unit::Km));
    }

    #[test]
    fn the_cover_holds_every_point_in_the_circle() {
        // A deterministic scatter of points around a few centres and radii: every point
        // within the radius must fall in one of the cover's ranges.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for (lon, lat, r) in [
            (2.35, 48.85, 1000.0),
            (-122.4, 37.7, 50_000.0),
            (0.0, 0.0, 10.0),
            (139.7, 35.7, 300_000.0),
            (170.0, -60.0, 20_000.0),
        ] {
            let ranges = cover(lon, lat, r).expect("a cover");
            assert!(ranges.len() <= 4);
            let deg = (r / EARTH_RADIUS_M).to_degrees() * 3.0;
            for _ in 0..2000 {
                let (plon, plat) = (
                    lon + (next() - 0.5) * deg / lat.to_radians().cos(),
                    lat + (next() - 0.5) * deg,
                );
                let h = encode(plon, plat);
                if within(h, lon, lat, r) {
                    assert!(
                        ranges.iter().any(|(a, b)| (*a..*b).contains(&h)),
                        "{plon} {plat}"
                    );
                }
            }
        }
        assert_eq!(cover(0.0, 85.0, 100_000.0), None);
        assert_eq!(cover(179.999, 0.0, 1000.0), None);
        assert_eq!(Unit::parse(b"yd"), None);
    }
}
