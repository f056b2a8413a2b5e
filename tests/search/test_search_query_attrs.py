"""Query attributes and proximity compared with RediSearch 2.10 itself: `$weight`, `$slop` and
`$inorder` on clauses, FT.SEARCH's SLOP and INORDER, and INDEXEMPTY's `''`. The same generated
documents in both; answers (totals, order, WITHSCORES numbers, error texts) must agree."""

import random

import redis

from anchor import Anchor, differences

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "zeta", "the", "of"]


def documents(n, seed):
    rng = random.Random(seed)
    return {f"p:{i}": {"t": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))),
                       "u": " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))),
                       "g": rng.choice(["red", "green", "blue"]),
                       "n": rng.randint(0, 20)}
            for i in range(n)}


# No union inside an intersection here: there RediSearch scores only the first child the union
# reads for a document (see the README), and this engine every child that matches.
PROXIMITY = ["alpha beta", "beta alpha", "alpha beta gamma",
             "alpha @t:beta", "@t:(kappa zeta)", "(alpha beta)=>{$slop:0}",
             "(alpha beta)=>{$slop:2}", "(alpha beta)=>{$inorder:true}",
             "(alpha beta)=>{$slop:1;$inorder:true}", "(omega sigma)=>{$slop:0} | kappa",
             "gamma -(alpha beta)=>{$slop:0}", "\"alpha beta\"", "\"beta gamma\"=>{$slop:3}",
             "alpha beta @n:[0 10]", "@g:{red} alpha beta"]
OPTIONS = [[], ["SLOP", 0], ["SLOP", 1], ["SLOP", 3], ["INORDER"], ["SLOP", 0, "INORDER"],
           ["SLOP", 2, "INORDER"]]
WEIGHTED = ["alpha=>{$weight:2}", "alpha beta=>{$weight:0.5}", "(alpha beta)=>{$weight:3}",
            "(alpha | beta)=>{$weight:3}", "((alpha)=>{$weight:2})=>{$weight:3}",
            "\"alpha beta\"=>{$weight:2}", "@g:{red}=>{$weight:2} alpha",
            "@g:{red|blue}=>{$weight:2} alpha", "@n:[0 5]=>{$weight:2} alpha",
            "(alpha beta)=>{$weight:2;$slop:1}", "alpha=>{$weight:0}"]
SCORERS = ["TFIDF", "BM25", "BM25STD", "DISMAX"]


def commands():
    out = []
    for q in PROXIMITY:
        for opts in OPTIONS:
            out.append(["FT.SEARCH", "p", q, "NOCONTENT", "WITHSCORES", "VERBATIM",
                        "LIMIT", 0, 1000, "DIALECT", 2, *opts])
    for q in WEIGHTED:
        for scorer in SCORERS:
            out.append(["FT.SEARCH", "p", q, "NOCONTENT", "WITHSCORES", "VERBATIM",
                        "SCORER", scorer, "LIMIT", 0, 1000, "DIALECT", 2])
    for q in ["alpha=>{$weight:abc}", "alpha=>{$weight:-1}", "(alpha beta)=>{$slop:x}",
              "(alpha beta)=>{$slop:1.5}", "(alpha beta)=>{$inorder:maybe}"]:
        out.append(["FT.SEARCH", "p", q, "NOCONTENT", "DIALECT", 2])
    for opts in [["SLOP"], ["SLOP", "x"], ["SLOP", 99999999999], ["SLOP", -1]]:
        out.append(["FT.SEARCH", "p", "alpha beta", "NOCONTENT", "LIMIT", 0, 1000, "DIALECT", 2, *opts])
    return out


EMPTY = {"e:1": {"t": "", "g": "", "x": "a"}, "e:2": {"t": "hello", "g": "foo", "x": "a"},
         "e:3": {"x": "a"}, "e:4": {"t": "  ", "g": " "}, "e:5": {"t": "...", "g": "a,,b"},
         "e:6": {"t": "the", "g": ","}}
EMPTY_QUERIES = ["@t:''", "@g:{''}", "@t:\"\"", "-@t:''", "@g:{\"\"}", "@x:''", "''",
                 "@t:('')", "@t:'' | @t:hello", "-@g:{''}", "@g:{''|foo}", "@g:{ '' }",
                 "@t:''=>{$weight:2}", "@t:'' hello", "(@t:'' | hello) -@g:{''}"]


def load(r, docs):
    r.execute_command("FT.CREATE", "p", "ON", "HASH", "PREFIX", 1, "p:", "SCHEMA",
                      "t", "TEXT", "u", "TEXT", "g", "TAG", "n", "NUMERIC")
    r.execute_command("FT.CREATE", "e", "ON", "HASH", "PREFIX", 1, "e:", "SCHEMA",
                      "t", "TEXT", "INDEXEMPTY", "g", "TAG", "INDEXEMPTY", "x", "TEXT")
    r.execute_command("FT.CREATE", "f", "ON", "HASH", "PREFIX", 1, "e:", "SCHEMA",
                      "t", "TEXT", "g", "TAG", "x", "TEXT")
    for key, fields in {**docs, **EMPTY}.items():
        r.hset(key, mapping=fields)


def empty_commands():
    return [["FT.SEARCH", index, q, "NOCONTENT", "WITHSCORES", "DIALECT", 2, *extra]
            for q in EMPTY_QUERIES for index in ("e", "f")
            for extra in ([], ["SCORER", "BM25STD"])]


def test_attributes_proximity_and_empty_strings_are_redisearchs(server):
    docs = documents(120, 5)
    cmds = commands() + empty_commands()
    anchor = Anchor()
    try:
        theirs = anchor.client()
        load(theirs, docs)
        ours = redis.Redis(port=server.port)
        load(ours, docs)
        bad = differences(ours, theirs, cmds)
    finally:
        anchor.stop()
    assert not bad, f"{len(bad)} of {len(cmds)} answers differ:\n" + "\n".join(bad[:15])


def test_num_terms_leaves_out_the_empty_term(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "n", "PREFIX", 1, "n:", "SCHEMA", "t", "TEXT", "INDEXEMPTY")
    r.hset("n:1", "t", "running dogs the")
    r.hset("n:2", "t", "")
    info = r.execute_command("FT.INFO", "n")
    # running, +run, dogs, +dog: stems count, the stopword and the empty value do not.
    assert info[info.index("num_terms") + 1] == 4


EXPLAINED = ["hello", "running dogs", "hello|world", "-hello", "@t:hello", "@u:running",
             "\"hello world\"", "hel*", "*llo", "*ell*", "%helo%", "%%helo%%", "@g:{a|b}",
             "@g:{pre*}", "@n:[1 2]", "@n:[(1 +inf]", "*", "*=>[KNN 10 @v $vec]",
             "@g:{a}=>[KNN 10 @v $vec AS d]", "the", "hello the world", "hello=>{$weight:2}",
             "(hello world)=>{$slop:2}", "(hello world)=>{$weight:2;$inorder:true}",
             "running (dogs|cats)", "hello -world @n:[1 2]", "@g:{a}=>{$weight:3}",
             "~hello world"]


def test_explain_is_redisearchs(server):
    schema = ("FT.CREATE", "x", "ON", "HASH", "PREFIX", 1, "x:", "SCHEMA", "t", "TEXT",
              "u", "TEXT", "NOSTEM", "g", "TAG", "n", "NUMERIC", "geo", "GEO",
              "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 2, "DISTANCE_METRIC", "L2")
    cmds = [[verb, "x", q, "DIALECT", 2, "PARAMS", 2, "vec", b"\0" * 8, *extra]
            for q in EXPLAINED for verb in ("FT.EXPLAIN", "FT.EXPLAINCLI")
            for extra in ([], ["VERBATIM"])]
    cmds += [["FT.EXPLAIN", "nosuch", "hello"], ["FT.EXPLAIN", "x", "hello", "LIMIT", 0, 5],
             ["FT.EXPLAIN", "x", "hello", "DIALECT", 9]]
    anchor = Anchor()
    try:
        theirs = anchor.client()
        theirs.execute_command(*schema)
        ours = redis.Redis(port=server.port)
        ours.execute_command(*schema)
        bad = differences(ours, theirs, cmds)
    finally:
        anchor.stop()
    assert not bad, f"{len(bad)} of {len(cmds)} answers differ:\n" + "\n".join(bad[:15])


def meta_commands():
    cmds = [["FT.SEARCH", index, q, "WITHSCORES", "SCORER", scorer, *extra]
            for index, q in [("sc", "hello"), ("sd", "hello")]
            for scorer in ["TFIDF", "TFIDF.DOCNORM", "BM25", "BM25STD", "DOCSCORE", "DISMAX"]
            for extra in ([], ["WITHPAYLOADS"], ["NOCONTENT", "WITHPAYLOADS"])]
    cmds += [["FT.SEARCH", "sd", q, "NOCONTENT", *extra]
             for q in ["haus", "häuser", "run", "running", "hello the"]
             for extra in ([], ["LANGUAGE", "english"], ["LANGUAGE", "German"], ["NOSTOPWORDS"],
                           ["LANGUAGE", "klingon"], ["VERBATIM"])]
    cmds += [["FT.SEARCH", "sd", "hello", "RETURN", 2, "myscore", "t"],
             ["FT.SEARCH", "sd", "hello", "SORTBY", "t", "WITHPAYLOADS", "LIMIT", 0, 3],
             ["FT.EXPLAIN", "sd", "häuser"], ["FT.EXPLAIN", "sd", "running", "LANGUAGE", "english"]]
    cmds += [["FT.CREATE", "bad", *opts, "SCHEMA", "t", "TEXT"]
             for opts in [["LANGUAGE", "klingon"], ["SCORE", 2], ["SCORE", "abc"], ["SCORE", -1]]]
    return cmds


def load_meta(r):
    r.execute_command("FT.CREATE", "sc", "ON", "HASH", "PREFIX", 1, "sc:", "SCORE", 0.5,
                      "SCHEMA", "t", "TEXT")
    r.execute_command("FT.CREATE", "sd", "ON", "HASH", "PREFIX", 1, "sd:", "SCORE_FIELD",
                      "myscore", "PAYLOAD_FIELD", "pl", "LANGUAGE_FIELD", "lang", "LANGUAGE",
                      "german", "SCHEMA", "t", "TEXT")
    r.hset("sc:1", "t", "hello")
    r.hset("sc:2", mapping={"t": "hello", "__score": 0.25})
    for key, fields in {"sd:1": {"t": "hello", "myscore": 0.5, "pl": "abc"},
                        "sd:2": {"t": "häuser", "lang": "german"},
                        "sd:3": {"t": "running", "lang": "english"}, "sd:4": {"t": "running"},
                        "sd:5": {"t": "hello", "myscore": "abc"},
                        "sd:6": {"t": "hello", "myscore": 2, "pl": b"\x00\xff"},
                        "sd:7": {"t": "hello", "myscore": -1},
                        "sd:8": {"t": "hello the", "lang": "klingon"}}.items():
        r.hset(key, mapping=fields)


def test_scores_payloads_and_languages_are_redisearchs(server):
    cmds = meta_commands()
    anchor = Anchor()
    try:
        theirs = anchor.client()
        load_meta(theirs)
        ours = redis.Redis(port=server.port)
        load_meta(ours)
        bad = differences(ours, theirs, cmds)
        info_ours = ours.execute_command("FT.INFO", "sd")
        info_theirs = theirs.execute_command("FT.INFO", "sd")
    finally:
        anchor.stop()
    assert not bad, f"{len(bad)} of {len(cmds)} answers differ:\n" + "\n".join(bad[:15])
    definition = lambda info: info[info.index(b"index_definition") + 1]
    assert definition(info_ours) == definition(info_theirs)


def test_document_fields_refused_on_json(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    try:
        r.execute_command("FT.CREATE", "j", "ON", "JSON", "SCORE_FIELD", "$.s", "SCHEMA",
                          "$.t", "AS", "t", "TEXT")
        raise AssertionError("SCORE_FIELD accepted on JSON")
    except redis.ResponseError as e:
        assert "ON HASH" in str(e)


def test_maxaggregateresults_bounds_aggregate_limit(server):
    r = redis.Redis(port=server.port, decode_responses=True)
    r.execute_command("FT.CREATE", "ag", "PREFIX", 1, "ag:", "SCHEMA", "t", "TEXT")
    r.hset("ag:1", "t", "hello")
    r.execute_command("FT.CONFIG", "SET", "MAXAGGREGATERESULTS", 5)
    try:
        try:
            r.execute_command("FT.AGGREGATE", "ag", "*", "LIMIT", 0, 10)
            raise AssertionError("LIMIT above MAXAGGREGATERESULTS accepted")
        except redis.ResponseError as e:
            assert str(e) == "LIMIT exceeds maximum of 5"  # RediSearch's text
        assert r.execute_command("FT.AGGREGATE", "ag", "*", "LIMIT", 0, 5)[0] == 1
    finally:
        r.execute_command("FT.CONFIG", "SET", "MAXAGGREGATERESULTS", -1)


SPACED = ["alpha\nbeta", "gamma\r\ndelta", "eps\tzeta", "foo\u00a0bar", "one\u2003two",
          "tab\there", "\nlead", "v\x0bw\x0cx"]


def test_only_space_and_tab_split_words(server):
    """RediSearch splits on space and tab; newlines and other controls are dropped inside a word
    (`alpha\\nbeta` is the term `alphabeta`), and other Unicode spaces stay in it."""
    words = ["alpha", "beta", "alphabeta", "gamma", "gammadelta", "zeta", "foo", "bar",
             "one", "here", "lead", "vwx", "alpha*", "foo*", "\"tab here\""]
    cmds = [["FT.SEARCH", "sp", w, "NOCONTENT", "DIALECT", "2"] for w in words]
    cmds.append(["FT.SEARCH", "sp", "gammadelta", "HIGHLIGHT", "DIALECT", "2"])
    anchor = Anchor()
    try:
        theirs = anchor.client()
        ours = redis.Redis(port=server.port)
        for r in (ours, theirs):
            r.execute_command("FT.CREATE", "sp", "PREFIX", 1, "sp:", "SCHEMA", "t", "TEXT")
            for i, text in enumerate(SPACED):
                r.hset(f"sp:{i}", "t", text)
        bad = differences(ours, theirs, cmds)
    finally:
        anchor.stop()
    assert not bad, "\n".join(bad)
