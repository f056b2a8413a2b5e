//! FT.*: index definitions, KNN / range / filtered queries against brute force, keeping the
//! index true to the keyspace (writes, deletes, expiry, renames, flushes, the initial scan),
//! persistence and replication, replies in RESP2 and RESP3, and the error texts.

mod common;

use std::time::Duration;

use common::*;
use redis::Value;

fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn hset_vec(
    c: &mut redis::Connection,
    key: &str,
    fields: &[(&str, &str)],
    vfield: &str,
    v: &[f32],
) {
    let mut cmd = redis::cmd("HSET");
    cmd.arg(key);
    for (f, val) in fields {
        cmd.arg(*f).arg(*val);
    }
    cmd.arg(vfield).arg(blob(v));
    let _: i64 = cmd.query(c).expect("HSET");
}

/// FT.SEARCH with a `vec` parameter: returns the raw reply.
fn knn(c: &mut redis::Connection, idx: &str, query: &str, v: &[f32], extra: &[&str]) -> Value {
    let mut cmd = redis::cmd("FT.SEARCH");
    cmd.arg(idx).arg(query);
    for e in extra {
        cmd.arg(*e);
    }
    cmd.arg("PARAMS")
        .arg(2)
        .arg("vec")
        .arg(blob(v))
        .arg("DIALECT")
        .arg(2);
    cmd.query(c).expect("FT.SEARCH")
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &Value) -> String {
    String::from_utf8(bytes(v)).expect("utf-8")
}

/// The document ids of a NOCONTENT reply, after the total.
fn ids(v: &Value) -> Vec<String> {
    array(v)[1..].iter().map(text).collect()
}

/// A document of a reply: its key and its (field, value) pairs.
type Doc = (String, Vec<(String, Vec<u8>)>);

/// The documents of a RESP2 reply.
fn docs(v: &Value) -> Vec<Doc> {
    let a = array(v);
    a[1..]
        .chunks(2)
        .map(|pair| {
            let fields = array(&pair[1])
                .chunks(2)
                .map(|kv| (text(&kv[0]), bytes(&kv[1])))
                .collect();
            (text(&pair[0]), fields)
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// FT.INFO as (name, value) pairs.
fn ft_info(c: &mut redis::Connection, idx: &str) -> Vec<(String, Value)> {
    let v: Value = redis::cmd("FT.INFO").arg(idx).query(c).expect("FT.INFO");
    array(&v)
        .chunks(2)
        .map(|kv| (text(&kv[0]), kv[1].clone()))
        .collect()
}

fn info_value(c: &mut redis::Connection, idx: &str, name: &str) -> Value {
    ft_info(c, idx)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in FT.INFO"))
        .1
}

fn num_docs(c: &mut redis::Connection, idx: &str) -> i64 {
    int(&info_value(c, idx, "num_docs"))
}

const SCHEMA_L2: &str = "FT.CREATE idx ON HASH PREFIX 1 doc: SCORE 1.0 SCHEMA \
    title TEXT WEIGHT 1.0 genre TAG SEPARATOR , year NUMERIC \
    v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2";

/// Ten documents on a line: doc:i at (i, 0), genre a for even i, b for odd, year 2000+i.
fn ten_docs(c: &mut redis::Connection) {
    assert_ok(c, &w(SCHEMA_L2));
    for i in 0..10 {
        let genre = if i % 2 == 0 { "a" } else { "b" };
        let year = (2000 + i).to_string();
        let title = format!("title number {i} {}", if i < 5 { "low" } else { "high" });
        hset_vec(
            c,
            &format!("doc:{i}"),
            &[("title", &title), ("genre", genre), ("year", &year)],
            "v",
            &[i as f32, 0.0],
        );
    }
}

#[test]
fn knn_is_exact_on_flat_with_squared_l2() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 3 @v $vec AS dist]",
        &[3.4, 0.0],
        &["SORTBY", "dist", "RETURN", "2", "dist", "genre"],
    );
    assert_eq!(int(&array(&r)[0]), 3);
    let d = docs(&r);
    assert_eq!(
        d.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["doc:3", "doc:4", "doc:2"]
    );
    // Squared distances, printed like RediSearch (%.12g).
    assert_eq!(field(&d[0].1, "dist"), Some(&b"0.16000007093"[..]));
    assert_eq!(field(&d[1].1, "dist"), Some(&b"0.359999895096"[..]));
    assert_eq!(field(&d[0].1, "genre"), Some(&b"b"[..]));
    // No RETURN: the distance first, then every hash field.
    let r = knn(&mut c, "idx", "*=>[KNN 1 @v $vec]", &[0.0, 0.0], &[]);
    let d = docs(&r);
    assert_eq!(d[0].1[0].0, "__v_score");
    assert_eq!(d[0].1[0].1, b"0");
    assert_eq!(d[0].1.len(), 5);
    assert_eq!(field(&d[0].1, "v"), Some(&blob(&[0.0, 0.0])[..]));
    // KNN 20 over 10 documents: total 10, default page of 10.
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 20 @v $vec]",
        &[0.0, 0.0],
        &["NOCONTENT"],
    );
    assert_eq!(int(&array(&r)[0]), 10);
    assert_eq!(ids(&r).len(), 10);
    // LIMIT 0 0 counts; LIMIT pages.
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 5 @v $vec]",
        &[0.0, 0.0],
        &["LIMIT", "0", "0"],
    );
    assert_eq!(array(&r).len(), 1);
    assert_eq!(int(&array(&r)[0]), 5);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 5 @v $vec AS d]",
        &[0.0, 0.0],
        &["NOCONTENT", "SORTBY", "d", "LIMIT", "2", "2"],
    );
    assert_eq!(ids(&r), ["doc:2", "doc:3"]);
    // WITHSCORES puts a score after each id.
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 2 @v $vec]",
        &[0.0, 0.0],
        &["NOCONTENT", "WITHSCORES"],
    );
    assert_eq!(array(&r).len(), 5);
}

#[test]
fn filters_prefilter_knn_and_stand_alone() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    let q = |c: &mut redis::Connection, query: &str| {
        ids(&knn(
            c,
            "idx",
            query,
            &[0.0, 0.0],
            &["NOCONTENT", "SORTBY", "year", "LIMIT", "0", "100"],
        ))
    };
    assert_eq!(
        q(&mut c, "(@genre:{b})=>[KNN 2 @v $vec]"),
        ["doc:1", "doc:3"]
    );
    assert_eq!(
        q(&mut c, "(-@genre:{b})=>[KNN 2 @v $vec]"),
        ["doc:0", "doc:2"]
    );
    assert_eq!(
        q(&mut c, "(@year:[(2006 +inf])=>[KNN 2 @v $vec]"),
        ["doc:7", "doc:8"]
    );
    assert_eq!(q(&mut c, "@year:[2003 2005]"), ["doc:3", "doc:4", "doc:5"]);
    assert_eq!(q(&mut c, "@genre:{a} @year:[2003 2005]"), ["doc:4"]);
    assert_eq!(
        q(&mut c, "(@year:[-inf (2002] | @year:[2009 2009])"),
        ["doc:0", "doc:1", "doc:9"]
    );
    assert_eq!(
        q(&mut c, "@title:high -@genre:{a}"),
        ["doc:5", "doc:7", "doc:9"]
    );
    assert_eq!(
        q(&mut c, "number low @genre:{a}"),
        ["doc:0", "doc:2", "doc:4"]
    );
    assert_eq!(q(&mut c, "@title:(hi*) @year:[2009 2009]"), ["doc:9"]);
    assert_eq!(q(&mut c, "@genre:{x}").len(), 0);
    // INKEYS limits the candidates, for filters and KNN alike.
    let r = knn(
        &mut c,
        "idx",
        "*",
        &[0.0, 0.0],
        &["NOCONTENT", "INKEYS", "3", "doc:3", "doc:1", "nope"],
    );
    assert_eq!(ids(&r), ["doc:1", "doc:3"]);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 1 @v $vec]",
        &[0.0, 0.0],
        &["NOCONTENT", "INKEYS", "2", "doc:7", "doc:5"],
    );
    assert_eq!(ids(&r), ["doc:5"]);
    // Descending sort on a numeric field that is not SORTABLE (RedisVL's MessageHistory).
    let r = knn(
        &mut c,
        "idx",
        "@genre:{a}",
        &[0.0, 0.0],
        &["NOCONTENT", "SORTBY", "year", "DESC"],
    );
    assert_eq!(ids(&r), ["doc:8", "doc:6", "doc:4", "doc:2", "doc:0"]);
    // Range query with a yielded distance, sorted nearest first.
    let r = knn(
        &mut c,
        "idx",
        "@v:[VECTOR_RANGE 4.5 $vec]=>{$YIELD_DISTANCE_AS: d}",
        &[5.0, 0.0],
        &["SORTBY", "d", "RETURN", "1", "d"],
    );
    let d = docs(&r);
    assert_eq!(
        d.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["doc:5", "doc:4", "doc:6", "doc:3", "doc:7"]
    );
    assert_eq!(field(&d[4].1, "d"), Some(&b"4"[..]));
    let r = knn(
        &mut c,
        "idx",
        "(@v:[VECTOR_RANGE 4.5 $vec]=>{$YIELD_DISTANCE_AS: d} @genre:{a})",
        &[5.0, 0.0],
        &["NOCONTENT", "SORTBY", "d"],
    );
    assert_eq!(ids(&r), ["doc:4", "doc:6"]);
}

#[test]
fn the_index_follows_the_keyspace() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    let all = |c: &mut redis::Connection| {
        let mut v = ids(&knn(
            c,
            "idx",
            "*=>[KNN 100 @v $vec]",
            &[0.0, 0.0],
            &["NOCONTENT", "LIMIT", "0", "100"],
        ));
        v.sort();
        v
    };
    assert_eq!(num_docs(&mut c, "idx"), 10);
    exec(&mut c, &w("DEL doc:0")).unwrap();
    exec(&mut c, &w("UNLINK doc:1")).unwrap();
    exec(&mut c, &w("HDEL doc:2 v")).unwrap();
    exec(&mut c, &w("RENAME doc:3 other:3")).unwrap();
    exec(&mut c, &w("RENAME doc:4 doc:40")).unwrap();
    exec(&mut c, &w("SET doc:5 plain")).unwrap();
    exec(&mut c, &w("PEXPIRE doc:6 30")).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let _ = exec(&mut c, &w("GET doc:6"));
    assert_eq!(all(&mut c), ["doc:40", "doc:7", "doc:8", "doc:9"]);
    // The hash without its vector is still a document, just not a vector one.
    assert_eq!(
        ids(&knn(
            &mut c,
            "idx",
            "@year:[2002 2002]",
            &[0.0, 0.0],
            &["NOCONTENT"]
        )),
        ["doc:2"]
    );
    // An overwritten vector moves.
    hset_vec(&mut c, "doc:9", &[], "v", &[-1.0, 0.0]);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 1 @v $vec]",
        &[-1.0, 0.0],
        &["NOCONTENT"],
    );
    assert_eq!(ids(&r), ["doc:9"]);
    // FLUSHALL drops the indexes with the keys, as RediSearch does.
    exec(&mut c, &w("FLUSHALL")).unwrap();
    assert_err(&mut c, &w("FT.INFO idx"), "Unknown index name");
    assert_ok(&mut c, &w(SCHEMA_L2));
    hset_vec(&mut c, "doc:1", &[], "v", &[1.0, 0.0]);
    assert_eq!(all(&mut c), ["doc:1"]);
    // Keys in other databases are not indexed.
    exec(&mut c, &w("SELECT 1")).unwrap();
    hset_vec(&mut c, "doc:2", &[], "v", &[1.0, 0.0]);
    exec(&mut c, &w("SELECT 0")).unwrap();
    assert_eq!(all(&mut c), ["doc:1"]);
}

#[test]
fn wrong_vector_sizes_are_indexing_failures_and_query_errors() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &w("FT.CREATE idx SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2"),
    );
    // RediSearch's test_wrong_vector_size: 6 hashes, 4 of the wrong size.
    for (k, n) in [("1", 2), ("2", 1), ("3", 3), ("4", 2), ("5", 4), ("6", 0)] {
        let v: Vec<u8> = blob(&vec![1.0; n]);
        let _: i64 = redis::cmd("HSET")
            .arg(k)
            .arg("v")
            .arg(v)
            .query(&mut c)
            .unwrap();
    }
    assert_eq!(num_docs(&mut c, "idx"), 2);
    assert_eq!(int(&info_value(&mut c, "idx", "hash_indexing_failures")), 4);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 6 @v $vec]",
        &[1.0, 1.0],
        &["NOCONTENT", "SORTBY", "__v_score"],
    );
    assert_eq!(int(&array(&r)[0]), 2);
    let mut got = ids(&r);
    got.sort();
    assert_eq!(got, ["1", "4"]);
    // A good document overwritten with a bad vector leaves the index.
    let _: i64 = redis::cmd("HSET")
        .arg("1")
        .arg("v")
        .arg(blob(&[1.0]))
        .query(&mut c)
        .unwrap();
    assert_eq!(num_docs(&mut c, "idx"), 1);
    let errors = info_value(&mut c, "idx", "Index Errors");
    assert_eq!(
        text(&array(&errors)[3]),
        "Could not add vector with blob size 4 (expected size 8)"
    );
    let r = redis::cmd("FT.SEARCH")
        .arg("idx")
        .arg("*=>[KNN 2 @v $vec]")
        .arg("PARAMS")
        .arg(2)
        .arg("vec")
        .arg(blob(&[1.0]))
        .query::<Value>(&mut c);
    assert_eq!(
        error_text(&r.unwrap_err()),
        "Error parsing vector similarity query: query vector blob size (4) does not match index's expected size (8)"
    );
}

#[test]
fn error_replies() {
    let s = Server::start();
    let mut c = s.client();
    assert_err(&mut c, &w("FT.SEARCH nope *"), "nope: no such index");
    assert_err(&mut c, &w("FT.INFO nope"), "Unknown index name");
    assert_err(&mut c, &w("FT.DROPINDEX nope"), "Unknown index name");
    assert_ok(&mut c, &w("FT.CREATE idx SCHEMA t TEXT"));
    assert_err(
        &mut c,
        &w("FT.CREATE idx SCHEMA t TEXT"),
        "Index already exists",
    );
    for bad in [
        "FT.CREATE x",
        "FT.CREATE x SCHEMA",
        "FT.CREATE x ON JSON SCHEMA a TEXT",
        "FT.CREATE x SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC XX",
        "FT.CREATE x SCHEMA v VECTOR HNSW 6 TYPE FLOAT32 DIM -1 DISTANCE_METRIC L2",
        "FT.CREATE x PREFIX 18446744073709551615 SCHEMA a TEXT",
    ] {
        assert!(exec(&mut c, &w(bad)).is_err(), "{bad} was accepted");
    }
    let lists: Vec<String> = redis::cmd("FT._LIST").query(&mut c).unwrap();
    assert_eq!(lists, ["idx"]);
    for bad in [
        "FT.SEARCH idx",
        "FT.SEARCH idx * LIMIT 0",
        "FT.SEARCH idx * LIMIT -1 10",
        "FT.SEARCH idx * RETURN 5 a",
        "FT.SEARCH idx * PARAMS 3 a b c",
        "FT.SEARCH idx * DIALECT 9",
        "FT.SEARCH idx * BOGUS",
        "FT.SEARCH idx @t:{x",
        "FT.SEARCH idx *=>[KNN 2 @t $v] PARAMS 2 v abcd",
        "FT.SEARCH idx *=>[KNN 2 @nope $v] PARAMS 2 v abcd",
        "FT.SEARCH idx *=>[KNN 2 @t $missing]",
        "FT.SEARCH idx * SORTBY nope",
    ] {
        assert!(exec(&mut c, &w(bad)).is_err(), "{bad} was accepted");
    }
    assert_ok(&mut c, &w("FT.DROPINDEX idx"));
    let lists: Vec<String> = redis::cmd("FT._LIST").query(&mut c).unwrap();
    assert!(lists.is_empty());
}

#[test]
fn existing_keys_are_scanned_in_the_background() {
    let s = Server::start();
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("HSET")
            .arg(format!("doc:{i}"))
            .arg("n")
            .arg(i)
            .arg("v")
            .arg(blob(&[i as f32, 1.0]))
            .ignore();
    }
    pipe.cmd("SET").arg("doc:string").arg("x").ignore();
    pipe.cmd("HSET").arg("elsewhere:1").arg("n").arg(1).ignore();
    let () = pipe.query(&mut c).unwrap();
    assert_ok(
        &mut c,
        &w("FT.CREATE idx PREFIX 1 doc: SCHEMA n NUMERIC v VECTOR HNSW 6 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2"),
    );
    wait_for(Duration::from_secs(20), "the scan to finish", || {
        int(&info_value(&mut c, "idx", "indexing")) == 0
    });
    assert_eq!(text(&info_value(&mut c, "idx", "percent_indexed")), "1");
    assert_eq!(num_docs(&mut c, "idx"), 5000);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 1 @v $vec]",
        &[4321.2, 1.0],
        &["NOCONTENT"],
    );
    assert_eq!(ids(&r), ["doc:4321"]);
    // SKIPINITIALSCAN indexes only what is written afterwards.
    assert_ok(
        &mut c,
        &w("FT.CREATE later PREFIX 1 doc: SKIPINITIALSCAN SCHEMA n NUMERIC"),
    );
    assert_eq!(num_docs(&mut c, "later"), 0);
    exec(&mut c, &w("HSET doc:1 n 2")).unwrap();
    assert_eq!(num_docs(&mut c, "later"), 1);
}

#[test]
fn definitions_survive_reload_restart_and_reach_replicas() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    let before = knn(
        &mut c,
        "idx",
        "(@genre:{a})=>[KNN 3 @v $vec AS d]",
        &[3.2, 0.0],
        &["SORTBY", "d"],
    );
    assert_ok(&mut c, &w("DEBUG RELOAD"));
    assert_eq!(
        knn(
            &mut c,
            "idx",
            "(@genre:{a})=>[KNN 3 @v $vec AS d]",
            &[3.2, 0.0],
            &["SORTBY", "d"]
        ),
        before
    );
    assert_eq!(num_docs(&mut c, "idx"), 10);
    // An alias reaches the replica with the full sync (RDB aux data) ...
    assert_ok(&mut c, &w("FT.ALIASADD synced idx"));

    let replica = Server::start();
    let mut r = replicate_from(&s, &replica);
    wait_for(Duration::from_secs(10), "the replica's index", || {
        exec(&mut r, &w("FT.INFO idx")).is_ok() && num_docs(&mut r, "idx") == 10
    });
    hset_vec(&mut c, "doc:new", &[("genre", "b")], "v", &[3.0, 0.1]);
    let _: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    let on_replica = knn(
        &mut r,
        "idx",
        "*=>[KNN 1 @v $vec]",
        &[3.0, 0.1],
        &["NOCONTENT"],
    );
    assert_eq!(ids(&on_replica), ["doc:new"]);
    assert_ok(&mut c, &w("FT.CREATE second SCHEMA x TAG"));
    // ... and one made later with the replication stream.
    assert_ok(&mut c, &w("FT.ALIASADD streamed second"));
    let _: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    let lists: Vec<String> = redis::cmd("FT._LIST").query(&mut r).unwrap();
    assert_eq!(lists, ["idx", "second"]);
    assert_eq!(num_docs(&mut r, "synced"), 11);
    assert!(exec(&mut r, &w("FT.INFO streamed")).is_ok());
    drop(r);
    drop(replica);

    assert_ok(&mut c, &w("SAVE"));
    let s = s.restart();
    let mut c = s.client();
    assert_eq!(num_docs(&mut c, "idx"), 11);
    assert_eq!(num_docs(&mut c, "synced"), 11);
    assert_eq!(
        knn(
            &mut c,
            "idx",
            "(@genre:{a})=>[KNN 3 @v $vec AS d]",
            &[3.2, 0.0],
            &["SORTBY", "d"]
        ),
        before
    );
}

#[test]
fn dropindex_dd_deletes_the_documents() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    exec(&mut c, &w("SET unrelated 1")).unwrap();
    assert_ok(&mut c, &w("FT.DROPINDEX idx DD"));
    assert_eq!(keys(&mut c), ["unrelated"]);
    assert_err(&mut c, &w("FT.INFO idx"), "Unknown index name");
}

#[test]
fn searches_inside_multi_and_lua_run_inline() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    let (r,): (Value,) = redis::pipe()
        .atomic()
        .cmd("FT.SEARCH")
        .arg("idx")
        .arg("@genre:{a}")
        .arg("NOCONTENT")
        .arg("LIMIT")
        .arg(0)
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&array(&r)[0]), 5);
    let n: i64 = redis::cmd("EVAL")
        .arg("return redis.call('FT.SEARCH', 'idx', '@year:[2001 2003]', 'NOCONTENT')[1]")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn resp3_replies_are_maps() {
    let s = Server::start();
    let mut c = s.client_resp3();
    ten_docs(&mut c);
    let r = knn(
        &mut c,
        "idx",
        "*=>[KNN 2 @v $vec AS d]",
        &[0.0, 0.0],
        &["SORTBY", "d", "RETURN", "1", "d"],
    );
    let Value::Map(m) = &r else {
        panic!("not a map: {r:?}")
    };
    let get = |k: &str| {
        m.iter()
            .find(|(n, _)| text(n) == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(int(&get("total_results")), 2);
    let results = get("results");
    let first = &array(&results)[0];
    let Value::Map(doc) = first else {
        panic!("not a map: {first:?}")
    };
    assert_eq!(text(&doc[0].0), "id");
    assert_eq!(text(&doc[0].1), "doc:0");
    let Value::Map(extra) = &doc[1].1 else {
        panic!("no extra_attributes")
    };
    assert_eq!(text(&extra[0].0), "d");
    assert_eq!(text(&extra[0].1), "0");
    let info: Value = redis::cmd("FT.INFO").arg("idx").query(&mut c).unwrap();
    let Value::Map(info) = info else {
        panic!("FT.INFO is not a map")
    };
    let num = info.iter().find(|(k, _)| text(k) == "num_docs").unwrap();
    assert_eq!(num.1, Value::Int(10));
}

#[test]
fn ft_info_describes_the_schema() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &w("FT.CREATE idx ON HASH PREFIX 2 a: b: SCHEMA t TEXT tag AS label TAG SEPARATOR | CASESENSITIVE \
            v VECTOR HNSW 10 TYPE FLOAT64 DIM 4 DISTANCE_METRIC COSINE M 8 EF_CONSTRUCTION 100"),
    );
    let info = ft_info(&mut c, "idx");
    let names: Vec<&str> = info.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..6],
        [
            "index_name",
            "index_options",
            "index_definition",
            "attributes",
            "num_docs",
            "max_doc_id"
        ]
    );
    let def = &info[2].1;
    assert_eq!(text(&array(def)[1]), "HASH");
    assert_eq!(
        array(&array(def)[3]).iter().map(text).collect::<Vec<_>>(),
        ["a:", "b:"]
    );
    let attrs = array(&info[3].1);
    let tag: Vec<String> = array(&attrs[1])
        .iter()
        .map(|v| match v {
            Value::Int(i) => i.to_string(),
            v => text(v),
        })
        .collect();
    assert_eq!(
        tag,
        [
            "identifier",
            "tag",
            "attribute",
            "label",
            "type",
            "TAG",
            "SEPARATOR",
            "|",
            "CASESENSITIVE"
        ]
    );
    let vec: Vec<String> = array(&attrs[2])
        .iter()
        .map(|v| match v {
            Value::Int(i) => i.to_string(),
            v => text(v),
        })
        .collect();
    assert_eq!(
        &vec[..16],
        [
            "identifier",
            "v",
            "attribute",
            "v",
            "type",
            "VECTOR",
            "algorithm",
            "HNSW",
            "data_type",
            "FLOAT64",
            "dim",
            "4",
            "distance_metric",
            "COSINE",
            "M",
            "8"
        ]
    );
}

#[test]
fn hnsw_deletes_are_tombstones_until_a_background_rebuild() {
    let s = Server::start();
    let mut c = s.client();
    assert_ok(
        &mut c,
        &w("FT.CREATE idx SCHEMA v VECTOR HNSW 10 TYPE FLOAT32 DIM 2 DISTANCE_METRIC L2 M 8 EF_CONSTRUCTION 50"),
    );
    let point = |i: usize| [(i % 100) as f32, (i / 100) as f32];
    let mut pipe = redis::pipe();
    for i in 0..4000 {
        pipe.cmd("HSET")
            .arg(format!("p{i}"))
            .arg("v")
            .arg(blob(&point(i)))
            .ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    let mut pipe = redis::pipe();
    for i in (0..4000).filter(|i| i % 4 != 0) {
        pipe.cmd("DEL").arg(format!("p{i}")).ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    assert_eq!(num_docs(&mut c, "idx"), 1000);
    // Deleted points are never returned, before or after the rebuild.
    let check = |c: &mut redis::Connection| {
        for i in [0usize, 404, 1236, 3996] {
            let p = point(i);
            let r = knn(
                c,
                "idx",
                "*=>[KNN 1 @v $vec EF_RUNTIME 50]",
                &[p[0] + 0.1, p[1]],
                &["NOCONTENT"],
            );
            assert_eq!(ids(&r), [format!("p{i}")]);
        }
        let r = knn(
            c,
            "idx",
            "*=>[KNN 1000 @v $vec]",
            &[0.0, 0.0],
            &["NOCONTENT", "LIMIT", "0", "1000"],
        );
        assert!(ids(&r)
            .iter()
            .all(|k| k[1..].parse::<usize>().unwrap() % 4 == 0));
    };
    check(&mut c);
    // 3,000 tombstones call for a rebuild. Deletes that land after a rebuild took its
    // snapshot are tombstones again, and fewer than the threshold (1,000) stay until more
    // deletes come: how many remain depends on timing, so wait for the threshold, not zero.
    let tombstones = |c: &mut redis::Connection| int(&info_value(c, "idx", "vector_tombstones"));
    wait_for(Duration::from_secs(60), "the rebuild", || {
        tombstones(&mut c) <= 1000
    });
    check(&mut c);
    let left = tombstones(&mut c);
    assert_eq!(
        info_field(&mut c, "ai_search", "ai_vector_tombstones"),
        left.to_string()
    );
}

#[test]
fn large_searches_run_on_search_threads_and_see_acknowledged_writes() {
    // FLAT over 10k x 256 is past the inline budget: these searches block the client and run
    // on a search thread, while other clients write.
    let s = Server::start();
    let mut c = s.client();
    assert_ok(&mut c, &w("FT.CREATE idx PREFIX 1 d: SCHEMA v VECTOR FLAT 6 TYPE FLOAT32 DIM 256 DISTANCE_METRIC L2"));
    let vector =
        |i: usize| -> Vec<f32> { (0..256).map(|j| ((i * 7 + j * 13) % 101) as f32).collect() };
    let mut pipe = redis::pipe();
    for i in 0..10_000 {
        pipe.cmd("HSET")
            .arg(format!("d:{i}"))
            .arg("v")
            .arg(blob(&vector(i)))
            .ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    let searchers: Vec<_> = (0..2)
        .map(|t| {
            let url = s.url();
            std::thread::spawn(move || {
                let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
                for i in (t..200).step_by(2) {
                    let r = knn(
                        &mut c,
                        "idx",
                        "*=>[KNN 1 @v $vec]",
                        &vector(i * 37),
                        &["NOCONTENT"],
                    );
                    assert_eq!(ids(&r).len(), 1);
                }
            })
        })
        .collect();
    for i in 0..50 {
        let v: Vec<f32> = (0..256).map(|j| 1000.0 + (i * 256 + j) as f32).collect();
        hset_vec(&mut c, &format!("d:new{i}"), &[], "v", &v);
        let r = knn(&mut c, "idx", "*=>[KNN 1 @v $vec]", &v, &["NOCONTENT"]);
        assert_eq!(ids(&r), [format!("d:new{i}")]);
        exec(&mut c, &["DEL", &format!("d:new{i}")]).unwrap();
        let r = knn(&mut c, "idx", "*=>[KNN 1 @v $vec]", &v, &["NOCONTENT"]);
        assert_ne!(ids(&r), [format!("d:new{i}")]);
    }
    for t in searchers {
        t.join().unwrap();
    }
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    assert!(stats.contains("cmdstat_FT.SEARCH:calls=300"), "{stats}");
}

#[test]
fn hostile_random_ft_commands_cannot_crash_the_server() {
    let s = Server::start();
    let mut c = s.client();
    ten_docs(&mut c);
    const WORDS: &[&str] = &[
        "idx",
        "SCHEMA",
        "VECTOR",
        "HNSW",
        "FLAT",
        "6",
        "8",
        "TYPE",
        "FLOAT32",
        "FLOAT64",
        "DIM",
        "2",
        "0",
        "-1",
        "18446744073709551616",
        "DISTANCE_METRIC",
        "L2",
        "COSINE",
        "TEXT",
        "TAG",
        "NUMERIC",
        "SEPARATOR",
        "PREFIX",
        "1",
        "doc:",
        "*",
        "*=>[KNN 3 @v $vec]",
        "(@genre:{a})=>[KNN $k @v $vec EF_RUNTIME $ef AS d]",
        "@year:[2000 (2005]",
        "@title:(hi*|%lo%)",
        "@v:[VECTOR_RANGE 3 $vec]=>{$YIELD_DISTANCE_AS: d}",
        "-@genre:{b}",
        "((((",
        "@",
        "{",
        "[",
        "PARAMS",
        "4",
        "vec",
        "k",
        "ef",
        "LIMIT",
        "SORTBY",
        "d",
        "year",
        "DESC",
        "RETURN",
        "AS",
        "NOCONTENT",
        "WITHSCORES",
        "INKEYS",
        "DIALECT",
        "DD",
        "\u{0}",
        "\u{ff}",
        "",
    ];
    let commands = [
        "FT.CREATE",
        "FT.SEARCH",
        "FT.INFO",
        "FT.DROPINDEX",
        "FT._LIST",
        "HSET",
    ];
    let mut rng = Rng(0x5eed_f7f7_0000_0005);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        let name = commands[rng.below(commands.len() as u64) as usize];
        let mut cmd = redis::cmd(name);
        let n = rng.below(12);
        for j in 0..n {
            if rng.below(6) == 0 {
                let len = rng.below(20) as usize;
                cmd.arg((0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>());
            } else if name == "HSET" && j == 0 {
                cmd.arg(format!("doc:{}", rng.below(20)));
            } else {
                cmd.arg(WORDS[rng.below(WORDS.len() as u64) as usize]);
            }
        }
        pipe.add_command(cmd).ignore();
        if i % 500 == 499 {
            // Errors are expected; the server must answer every command and stay up.
            let _: redis::RedisResult<()> = pipe.query(&mut c);
            pipe = redis::pipe();
        }
    }
    assert_eq!(
        exec(&mut c, &["PING"]),
        Ok(Value::SimpleString("PONG".into()))
    );
    assert!(
        !s.log().contains("panic"),
        "a command panicked:\n{}",
        s.log()
    );
    // Every command reached the server (a pipeline that stopped at the first error would not).
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    let count = |field: &str| -> u64 {
        stats
            .lines()
            .filter(|l| l.starts_with("cmdstat_FT.") || l.starts_with("cmdstat_hset"))
            .filter_map(|l| {
                l.split(field)
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let (calls, failed) = (count(":calls="), count("failed_calls="));
    assert!(
        calls + failed > 10_000,
        "only {calls} calls and {failed} failures:\n{stats}"
    );
}
