//! Auto-batching arithmetic, pure: which requests can share a run, and how their tensors are
//! joined along dimension 0 and split back.

use std::sync::Arc;

use crate::error::{AiError, AiResult};
use crate::tensor::{element_count, try_concat, Limits, Shape, Tensor};

/// Rows a request contributes to a batch: the dimension 0 all its inputs share. `None` when
/// the request cannot be batched (no inputs, a scalar, or inputs that disagree).
pub fn rows(inputs: &[Arc<Tensor>]) -> Option<u64> {
    let first = *inputs.first()?.shape().first()?;
    let all_agree = inputs.iter().all(|t| t.shape().first() == Some(&first));
    (all_agree && first > 0).then_some(first as u64)
}

/// Whether two requests' inputs can be joined: same count, and per input the same dtype and
/// the same dimensions after the first.
pub fn compatible(a: &[Arc<Tensor>], b: &[Arc<Tensor>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape().len() == y.shape().len()
                && x.shape().get(1..) == y.shape().get(1..)
        })
}

/// Joins each input of several requests along dimension 0.
pub fn join(requests: &[&[Arc<Tensor>]]) -> AiResult<Vec<Tensor>> {
    let first = requests
        .first()
        .ok_or(AiError::Internal("empty batch".into()))?;
    (0..first.len())
        .map(|i| {
            let parts: Vec<&Tensor> = requests.iter().map(|r| r[i].as_ref()).collect();
            let rows: i64 = parts.iter().map(|t| t.shape()[0]).sum();
            let mut shape = Shape::from_slice(parts[0].shape());
            shape[0] = rows;
            let data = try_concat(parts.iter().map(|t| t.data()))?;
            Tensor::from_vec(parts[0].dtype(), shape, data, Limits::UNLIMITED)
        })
        .collect()
}

/// Splits `t` along dimension 0 into consecutive pieces of `sizes` rows. Fails with RedisAI's
/// error when the model's output does not have one row per input row.
pub fn split(t: &Tensor, sizes: &[u64]) -> AiResult<Vec<Tensor>> {
    let total: u64 = sizes.iter().sum();
    if t.shape().first().map(|&d| d as u64) != Some(total) {
        return Err(AiError::BatchSizeMismatch);
    }
    let per_row = element_count(&t.shape()[1..])?;
    let data = t.data();
    let offsets = t.string_offsets();
    // Byte offset of element `e` (the end of the data for e == len).
    let byte_at = |e: usize| -> usize {
        if offsets.is_empty() {
            e * t.dtype().elem_size()
        } else {
            offsets.get(e).map_or(data.len(), |&o| o as usize)
        }
    };
    let mut row = 0usize;
    sizes
        .iter()
        .map(|&n| {
            let n = n as usize;
            let (start, end) = (byte_at(row * per_row), byte_at((row + n) * per_row));
            row += n;
            let mut shape = Shape::from_slice(t.shape());
            shape[0] = n as i64;
            Tensor::from_blob(t.dtype(), shape, &data[start..end], Limits::UNLIMITED)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    fn t(dtype: DType, shape: &[i64], values: &[&str]) -> Arc<Tensor> {
        let w: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        Arc::new(
            Tensor::from_values(dtype, Shape::from_slice(shape), &w[..], Limits::UNLIMITED)
                .unwrap(),
        )
    }

    #[test]
    fn rows_and_compatibility() {
        let a = [
            t(DType::Float, &[2, 3], &["1"; 6]),
            t(DType::Int8, &[2], &["1", "2"]),
        ];
        let b = [
            t(DType::Float, &[1, 3], &["1"; 3]),
            t(DType::Int8, &[1], &["1"]),
        ];
        assert_eq!(rows(&a), Some(2));
        assert!(compatible(&a, &b));
        let c = [
            t(DType::Float, &[1, 4], &["1"; 4]),
            t(DType::Int8, &[1], &["1"]),
        ];
        assert!(!compatible(&a, &c));
        let d = [
            t(DType::Double, &[1, 3], &["1"; 3]),
            t(DType::Int8, &[1], &["1"]),
        ];
        assert!(!compatible(&a, &d));
        assert_eq!(rows(&[t(DType::Float, &[], &["1"])]), None);
        assert_eq!(
            rows(&[
                t(DType::Float, &[2], &["1", "2"]),
                t(DType::Float, &[3], &["1"; 3])
            ]),
            None
        );
        assert_eq!(rows(&[]), None);
    }

    #[test]
    fn join_then_split_gives_each_request_its_rows() {
        let a = [t(DType::Float, &[1, 2], &["1", "2"])];
        let b = [t(DType::Float, &[2, 2], &["3", "4", "5", "6"])];
        let joined = join(&[&a[..], &b[..]]).unwrap();
        assert_eq!(joined[0].shape(), &[3, 2]);
        let back = split(&joined[0], &[1, 2]).unwrap();
        assert_eq!(&back[0], a[0].as_ref());
        assert_eq!(&back[1], b[0].as_ref());
        assert_eq!(
            split(&joined[0], &[1, 1]).unwrap_err(),
            AiError::BatchSizeMismatch
        );
    }

    #[test]
    fn strings_join_and_split() {
        let a = [t(DType::String, &[2], &["x", ""])];
        let b = [t(DType::String, &[1], &["hello"])];
        let joined = join(&[&a[..], &b[..]]).unwrap();
        assert_eq!(joined[0].data(), b"x\0\0hello\0");
        let back = split(&joined[0], &[2, 1]).unwrap();
        assert_eq!(&back[0], a[0].as_ref());
        assert_eq!(&back[1], b[0].as_ref());
    }
}
