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
        assert_eq!(Unit::parse(b"yd"), None);
    }
}
