use redisai_backend_api::{DataType, DL_BOOL, DL_FLOAT, DL_INT, DL_STRING, DL_UINT};

/// The element types RedisAI names (spec §3). Anything else is refused at the edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Float,
    Double,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    Bool,
    String,
}

impl DType {
    pub const ALL: [DType; 10] = [
        DType::Float,
        DType::Double,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::Bool,
        DType::String,
    ];

    /// Parses a dtype name as RedisAI does: case-insensitive, with the bit count after
    /// `INT`/`UINT` spelled exactly (`int8` yes, `INT08`, `UINT32`, `FLOAT16` no).
    pub fn parse(name: &[u8]) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| name.eq_ignore_ascii_case(d.name().as_bytes()))
    }

    /// The upper-case name used in replies, AOF and replication.
    pub const fn name(self) -> &'static str {
        match self {
            DType::Float => "FLOAT",
            DType::Double => "DOUBLE",
            DType::Int8 => "INT8",
            DType::Int16 => "INT16",
            DType::Int32 => "INT32",
            DType::Int64 => "INT64",
            DType::UInt8 => "UINT8",
            DType::UInt16 => "UINT16",
            DType::Bool => "BOOL",
            DType::String => "STRING",
        }
    }

    /// Bytes per element; STRING elements have no fixed size and count one byte (their `\0`).
    pub const fn elem_size(self) -> usize {
        match self {
            DType::Double | DType::Int64 => 8,
            DType::Float | DType::Int32 => 4,
            DType::Int16 | DType::UInt16 => 2,
            DType::Int8 | DType::UInt8 | DType::Bool | DType::String => 1,
        }
    }

    /// DLPack code and bits, as stored in RDB and passed to backends.
    pub const fn dl(self) -> DataType {
        let bits = (self.elem_size() * 8) as u8;
        let code = match self {
            DType::Float | DType::Double => DL_FLOAT,
            DType::Int8 | DType::Int16 | DType::Int32 | DType::Int64 => DL_INT,
            DType::UInt8 | DType::UInt16 => DL_UINT,
            DType::Bool => DL_BOOL,
            DType::String => DL_STRING,
        };
        DataType::new(code, bits)
    }

    pub fn from_dl(code: u64, bits: u64) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| u64::from(d.dl().code) == code && u64::from(d.dl().bits) == bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_exactly() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name().as_bytes()), Some(d));
            assert_eq!(DType::parse(d.name().to_lowercase().as_bytes()), Some(d));
        }
        assert_eq!(DType::parse(b"Int16"), Some(DType::Int16));
        for bad in [
            &b"INT128"[..],
            b"UINT32",
            b"UINT64",
            b"FLOAT16",
            b"INT08",
            b"INT",
            b"",
            b"FLOAT\0",
            b"BOOLEAN",
        ] {
            assert_eq!(
                DType::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn dlpack_codes_match_redisai() {
        assert_eq!(DType::Float.dl(), DataType::new(2, 32));
        assert_eq!(DType::Double.dl(), DataType::new(2, 64));
        assert_eq!(DType::Int8.dl(), DataType::new(0, 8));
        assert_eq!(DType::Int64.dl(), DataType::new(0, 64));
        assert_eq!(DType::UInt16.dl(), DataType::new(1, 16));
        assert_eq!(DType::Bool.dl(), DataType::new(6, 8));
        assert_eq!(DType::String.dl(), DataType::new(7, 8));
        for d in DType::ALL {
            let dl = d.dl();
            assert_eq!(DType::from_dl(dl.code.into(), dl.bits.into()), Some(d));
        }
        assert_eq!(DType::from_dl(2, 16), None);
        assert_eq!(DType::from_dl(1, 32), None);
    }
}
