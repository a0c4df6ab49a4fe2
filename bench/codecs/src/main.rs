//! Bytes per sample and speed of the codecs leakhound could store its series with, on the
//! series of `leakhound_bench::storage::week_at_10s` cut into chunks as the store cuts them:
//! pco (pcodec), Gorilla (tsz: delta-of-delta times, XOR floats), zstd over delta-encoded
//! columns, and the same columns as plain zigzag varints (what writing one by hand gives).
//! Times are integer milliseconds in every codec; values integers where they are integers.

use std::time::Instant;

use leakhound_bench::storage::{week_at_10s, BenchSeries, Shape};

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}
fn put_varint(out: &mut Vec<u8>, mut u: u64) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}
fn get_varint(b: &[u8], i: &mut usize) -> u64 {
    let (mut u, mut shift) = (0u64, 0);
    loop {
        let x = b[*i];
        *i += 1;
        u |= u64::from(x & 0x7f) << shift;
        if x < 0x80 {
            return u;
        }
        shift += 7;
    }
}

fn ms(t: &[f64]) -> Vec<i64> {
    t.iter().map(|t| (t * 1000.0).round() as i64).collect()
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

/// Delta-of-delta of times, then delta of values (over their common factor) or XOR of float
/// bits, as zigzag varints.
fn varint_columns(t: &[i64], v: &[f64], ints: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut prev, mut prev_d) = (0i64, 0i64);
    for &x in t {
        let d = x - prev;
        put_varint(&mut out, zigzag(d - prev_d));
        (prev, prev_d) = (x, d);
    }
    if ints {
        let iv: Vec<i64> = v.iter().map(|&x| x as i64).collect();
        let g = iv.iter().fold(0, |g, &x| gcd(g, x)).max(1);
        put_varint(&mut out, g as u64);
        let mut p = 0;
        for &x in &iv {
            put_varint(&mut out, zigzag(x / g - p));
            p = x / g;
        }
    } else {
        let mut p = 0u64;
        for &x in v {
            let b = x.to_bits();
            out.extend_from_slice(&(b ^ p).to_le_bytes());
            p = b;
        }
    }
    out
}

fn varint_decode(b: &[u8], n: usize, ints: bool) -> (Vec<i64>, Vec<f64>) {
    let mut i = 0;
    let (mut t, mut prev, mut prev_d) = (Vec::with_capacity(n), 0i64, 0i64);
    for _ in 0..n {
        let d = prev_d + unzigzag(get_varint(b, &mut i));
        prev += d;
        prev_d = d;
        t.push(prev);
    }
    let mut v = Vec::with_capacity(n);
    if ints {
        let g = get_varint(b, &mut i) as i64;
        let mut p = 0;
        for _ in 0..n {
            p += unzigzag(get_varint(b, &mut i));
            v.push((p * g) as f64);
        }
    } else {
        let mut p = 0u64;
        for _ in 0..n {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().unwrap()) ^ p;
            i += 8;
            v.push(f64::from_bits(x));
            p = x;
        }
    }
    (t, v)
}

trait Codec {
    fn name(&self) -> &'static str;
    fn encode(&self, t: &[i64], v: &[f64], ints: bool) -> Vec<u8>;
    fn decode(&self, b: &[u8], n: usize, ints: bool) -> (Vec<i64>, Vec<f64>);
}

struct Pco;
impl Codec for Pco {
    fn name(&self) -> &'static str {
        "pco 1.1 (level 8)"
    }
    fn encode(&self, t: &[i64], v: &[f64], ints: bool) -> Vec<u8> {
        let cfg = pco::ChunkConfig::default();
        let tb = pco::standalone::simple_compress(t, &cfg).unwrap();
        let vb = if ints {
            let iv: Vec<i64> = v.iter().map(|&x| x as i64).collect();
            pco::standalone::simple_compress(&iv, &cfg).unwrap()
        } else {
            pco::standalone::simple_compress(v, &cfg).unwrap()
        };
        let mut out = Vec::with_capacity(tb.len() + vb.len() + 4);
        put_varint(&mut out, tb.len() as u64);
        out.extend_from_slice(&tb);
        out.extend_from_slice(&vb);
        out
    }
    fn decode(&self, b: &[u8], _n: usize, ints: bool) -> (Vec<i64>, Vec<f64>) {
        let mut i = 0;
        let tl = get_varint(b, &mut i) as usize;
        let t = pco::standalone::simple_decompress::<i64>(&b[i..i + tl]).unwrap();
        let rest = &b[i + tl..];
        let v = if ints {
            pco::standalone::simple_decompress::<i64>(rest)
                .unwrap()
                .into_iter()
                .map(|x| x as f64)
                .collect()
        } else {
            pco::standalone::simple_decompress::<f64>(rest).unwrap()
        };
        (t, v)
    }
}

struct Gorilla;
impl Codec for Gorilla {
    fn name(&self) -> &'static str {
        "Gorilla (tsz 0.1.4)"
    }
    fn encode(&self, t: &[i64], v: &[f64], _ints: bool) -> Vec<u8> {
        use tsz::stream::BufferedWriter;
        use tsz::{DataPoint, Encode, StdEncoder};
        let mut e = StdEncoder::new(t[0] as u64, BufferedWriter::new());
        for (&t, &v) in t.iter().zip(v) {
            e.encode(DataPoint::new(t as u64, v));
        }
        e.close().into_vec()
    }
    fn decode(&self, b: &[u8], n: usize, _ints: bool) -> (Vec<i64>, Vec<f64>) {
        use tsz::decode::Decode;
        use tsz::stream::BufferedReader;
        let mut d = tsz::StdDecoder::new(BufferedReader::new(b.to_vec().into_boxed_slice()));
        let (mut t, mut v) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let p = d.next().unwrap();
            t.push(p.get_time() as i64);
            v.push(p.get_value());
        }
        (t, v)
    }
}

struct Zstd(i32);
impl Codec for Zstd {
    fn name(&self) -> &'static str {
        if self.0 >= 19 {
            "zstd 19 over delta columns"
        } else {
            "zstd 3 over delta columns"
        }
    }
    fn encode(&self, t: &[i64], v: &[f64], ints: bool) -> Vec<u8> {
        zstd::bulk::compress(&varint_columns(t, v, ints), self.0).unwrap()
    }
    fn decode(&self, b: &[u8], n: usize, ints: bool) -> (Vec<i64>, Vec<f64>) {
        let raw = zstd::bulk::decompress(b, n * 40 + 64).unwrap();
        varint_decode(&raw, n, ints)
    }
}

struct Varint;
impl Codec for Varint {
    fn name(&self) -> &'static str {
        "hand-written: zigzag varints"
    }
    fn encode(&self, t: &[i64], v: &[f64], ints: bool) -> Vec<u8> {
        varint_columns(t, v, ints)
    }
    fn decode(&self, b: &[u8], n: usize, ints: bool) -> (Vec<i64>, Vec<f64>) {
        varint_decode(b, n, ints)
    }
}

fn main() {
    let series = week_at_10s(1);
    let codecs: Vec<Box<dyn Codec>> = vec![
        Box::new(Pco),
        Box::new(Gorilla),
        Box::new(Zstd(3)),
        Box::new(Zstd(19)),
        Box::new(Varint),
    ];
    println!(
        "{} series x {} samples (a week at 10 s); chunks of N samples as the store cuts them",
        series.len(),
        series[0].t.len()
    );
    println!();
    for chunk in [360usize, 2160, 8640] {
        println!(
            "chunk of {chunk} samples ({} h at 10 s): bytes per sample",
            chunk / 360
        );
        println!(
            "| codec | memory (page-aligned) | counters | floats | all | encode Msamples/s | decode Msamples/s |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for c in &codecs {
            let mut by_shape = [(0usize, 0usize); 3];
            let (mut enc_s, mut dec_s, mut total_n) = (0.0, 0.0, 0usize);
            for s in &series {
                let k = match s.shape {
                    Shape::Memory => 0,
                    Shape::Counter => 1,
                    Shape::Float => 2,
                };
                let (bytes, n, e, d) = measure(c.as_ref(), s, chunk);
                by_shape[k].0 += bytes;
                by_shape[k].1 += n;
                enc_s += e;
                dec_s += d;
                total_n += n;
            }
            let per = |(b, n): (usize, usize)| b as f64 / n as f64;
            let all = by_shape.iter().map(|x| x.0).sum::<usize>() as f64 / total_n as f64;
            println!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
                c.name(),
                per(by_shape[0]),
                per(by_shape[1]),
                per(by_shape[2]),
                all,
                total_n as f64 / enc_s / 1e6,
                total_n as f64 / dec_s / 1e6
            );
        }
        println!();
    }
}

/// (bytes, samples, encode seconds, decode seconds) of one series in chunks of `chunk`; every
/// chunk is decoded and checked against what went in.
fn measure(c: &dyn Codec, s: &BenchSeries, chunk: usize) -> (usize, usize, f64, f64) {
    let ints = s.v.iter().all(|v| v.fract() == 0.0);
    let t = ms(&s.t);
    let (mut bytes, mut enc, mut dec) = (0, 0.0, 0.0);
    for (tc, vc) in t.chunks(chunk).zip(s.v.chunks(chunk)) {
        let a = Instant::now();
        let b = c.encode(tc, vc, ints);
        enc += a.elapsed().as_secs_f64();
        let a = Instant::now();
        let (t2, v2) = c.decode(&b, tc.len(), ints);
        dec += a.elapsed().as_secs_f64();
        assert_eq!(t2, tc, "{} times", c.name());
        assert!(
            v2.iter().zip(vc).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{} values of {}",
            c.name(),
            s.name
        );
        bytes += b.len();
    }
    (bytes, s.t.len(), enc, dec)
}
