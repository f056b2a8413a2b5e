//! RedisJSON's exported C API (`RedisModule_GetSharedAPI("RedisJSON_V<n>")`), the interface
//! RediSearch indexes JSON through. This module never parses or stores JSON itself.
//!
//! The API is acquired lazily, the first time something needs it (FT.CREATE ... ON JSON, a
//! keyspace event or scan of a JSON index, a search reply): modules may load in any order, and
//! a server without RedisJSON never pays for it. Once acquired, Redis refuses to unload
//! RedisJSON while this module uses it, so the table stays valid for the process's life.
//!
//! Values are borrowed pointers into the stored document: valid on the main thread until the
//! key is next written, so every read here completes before returning to the event loop.
//!
//! Layout: the `RedisJSONAPI` struct of RedisJSON 2.x (`rejson_api.h`). Only entries of
//! versions 1 and 2 are declared and used, which every RedisJSON since 2.4 exports with this
//! exact layout (later versions append entries; RedisJSON 8's V6 changed the signature of
//! `getAt`, which is why it is not used: array elements are read with the `$[*]` path).

use std::ffi::{c_char, c_int, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::{log, Level, OwnedString, RedisModuleCtx, RedisModuleString};
use crate::search::json::{JsonNode, Kind};

type Json = *const c_void;
type Iter = *const c_void;
type Path = *const c_void;

#[repr(C)]
// Entries this module does not call are declared for the layout only.
#[allow(non_snake_case, dead_code)]
struct RedisJsonApi {
    // V1
    openKey: Option<unsafe extern "C" fn(*mut RedisModuleCtx, *mut RedisModuleString) -> Json>,
    openKeyFromStr: Option<unsafe extern "C" fn(*mut RedisModuleCtx, *const c_char) -> Json>,
    get: Option<unsafe extern "C" fn(Json, *const c_char) -> Iter>,
    next: Option<unsafe extern "C" fn(Iter) -> Json>,
    len: Option<unsafe extern "C" fn(Iter) -> usize>,
    freeIter: Option<unsafe extern "C" fn(Iter)>,
    getAt: *const c_void,
    getLen: Option<unsafe extern "C" fn(Json, *mut usize) -> c_int>,
    getType: Option<unsafe extern "C" fn(Json) -> c_int>,
    getInt: Option<unsafe extern "C" fn(Json, *mut i64) -> c_int>,
    getDouble: Option<unsafe extern "C" fn(Json, *mut f64) -> c_int>,
    getBoolean: Option<unsafe extern "C" fn(Json, *mut c_int) -> c_int>,
    getString: Option<unsafe extern "C" fn(Json, *mut *const c_char, *mut usize) -> c_int>,
    getJSON: Option<
        unsafe extern "C" fn(Json, *mut RedisModuleCtx, *mut *mut RedisModuleString) -> c_int,
    >,
    isJSON: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    // V2
    pathParse: Option<
        unsafe extern "C" fn(
            *const c_char,
            *mut RedisModuleCtx,
            *mut *mut RedisModuleString,
        ) -> Path,
    >,
    pathFree: Option<unsafe extern "C" fn(Path)>,
    pathIsSingle: Option<unsafe extern "C" fn(Path) -> c_int>,
    pathHasDefinedOrder: Option<unsafe extern "C" fn(Path) -> c_int>,
}

// JSONType in rejson_api.h.
const JSON_STRING: c_int = 0;
const JSON_INT: c_int = 1;
const JSON_DOUBLE: c_int = 2;
const JSON_BOOL: c_int = 3;
const JSON_OBJECT: c_int = 4;
const JSON_ARRAY: c_int = 5;

const OK: c_int = 0;

static API: AtomicPtr<RedisJsonApi> = AtomicPtr::new(ptr::null_mut());
static VERSION: AtomicU32 = AtomicU32::new(0);

/// The newest API version asked for first; 2 is the oldest this module can use (it needs
/// `pathParse` to check JSONPaths at FT.CREATE).
const NEWEST: u32 = 5;
const OLDEST: u32 = 2;

/// RedisJSON's API, acquired on first use. `None` while no JSON module exports it.
#[derive(Clone, Copy)]
pub struct JsonApi(&'static RedisJsonApi);

/// Looks the API up if it was not found yet. `ctx` must be a live context of this module (the
/// server records the dependency on RedisJSON against it).
pub fn api(ctx: *mut RedisModuleCtx) -> Option<JsonApi> {
    let p = API.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: set below from GetSharedAPI; RedisJSON cannot be unloaded while used.
        return Some(JsonApi(unsafe { &*p }));
    }
    if ctx.is_null() || !crate::redis::api_has!(RedisModule_GetSharedAPI) {
        return None;
    }
    for v in (OLDEST..=NEWEST).rev() {
        let name = CString::new(format!("RedisJSON_V{v}")).ok()?;
        // SAFETY: live context; a NUL-terminated name.
        let p = unsafe { api!(RedisModule_GetSharedAPI)(ctx, name.as_ptr()) };
        if p.is_null() {
            continue;
        }
        let table = p as *mut RedisJsonApi;
        // SAFETY: RedisJSON exports a RedisJSONAPI struct under this name.
        let t = unsafe { &*table };
        let complete = t.openKey.is_some()
            && t.get.is_some()
            && t.next.is_some()
            && t.freeIter.is_some()
            && t.getType.is_some()
            && t.getDouble.is_some()
            && t.getBoolean.is_some()
            && t.getString.is_some()
            && t.getJSON.is_some()
            && t.pathParse.is_some()
            && t.pathFree.is_some();
        if !complete {
            log(
                Level::Warning,
                &format!("RedisJSON_V{v} lacks entries this module needs; JSON indexes are off"),
            );
            return None;
        }
        API.store(table, Ordering::Release);
        VERSION.store(v, Ordering::Relaxed);
        log(
            Level::Notice,
            &format!("JSON documents are read through RedisJSON's API (RedisJSON_V{v})"),
        );
        return Some(JsonApi(t));
    }
    None
}

impl JsonApi {
    /// The document stored at `key`, if it is a JSON key.
    pub fn open(self, ctx: *mut RedisModuleCtx, key: *mut RedisModuleString) -> Option<Doc> {
        // SAFETY: live context and key name; openKey returns NULL for other types/missing.
        let root = unsafe { (self.0.openKey?)(ctx, key) };
        (!root.is_null()).then_some(Doc { api: self, root })
    }

    /// Parses `path` with RedisJSON's own parser.
    pub fn check_path(self, path: &str) -> Result<(), String> {
        let c = CString::new(path).map_err(|_| "a JSONPath cannot hold NUL".to_string())?;
        let mut err: *mut RedisModuleString = ptr::null_mut();
        // SAFETY: NUL-terminated UTF-8 path (RedisJSON unwraps its UTF-8 check); with a NULL
        // context the error string is ours to free.
        let parsed = unsafe {
            (self.0.pathParse.ok_or("no pathParse")?)(c.as_ptr(), ptr::null_mut(), &mut err)
        };
        if parsed.is_null() {
            // SAFETY: RedisJSON made `err` for us (or left it NULL).
            let msg = unsafe { OwnedString::from_raw(err) }
                .map(|s| String::from_utf8_lossy(s.bytes()).into_owned())
                .unwrap_or_else(|| "RedisJSON could not parse it".into());
            return Err(msg);
        }
        if let Some(free) = self.0.pathFree {
            // SAFETY: a path parsed above, freed once.
            unsafe { free(parsed) };
        }
        Ok(())
    }
}

/// A JSON document, borrowed from its key.
pub struct Doc {
    api: JsonApi,
    root: Json,
}

impl Doc {
    pub fn root(&self) -> Node {
        Node {
            api: self.api,
            v: self.root,
        }
    }

    /// The values `path` matches (nothing for a path RedisJSON refuses).
    pub fn select(&self, path: &str) -> Vec<Node> {
        self.root().select(path)
    }
}

/// One value inside a document.
#[derive(Clone, Copy)]
pub struct Node {
    api: JsonApi,
    v: Json,
}

impl Node {
    /// The values `path` matches below this one.
    pub fn select(&self, path: &str) -> Vec<Node> {
        let Ok(c) = CString::new(path) else {
            return Vec::new();
        };
        let api = self.api.0;
        let (Some(get), Some(next), Some(free)) = (api.get, api.next, api.freeIter) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // SAFETY: a live value; the iterator is freed once; values it yields are borrowed
        // from the document, as this value is.
        unsafe {
            let it = get(self.v, c.as_ptr());
            if it.is_null() {
                return out;
            }
            loop {
                let v = next(it);
                if v.is_null() {
                    break;
                }
                out.push(Node { api: self.api, v });
            }
            free(it);
        }
        out
    }

    /// The value as JSON text (RedisJSON's own serialization).
    pub fn json_text(&self) -> Vec<u8> {
        let Some(f) = self.api.0.getJSON else {
            return Vec::new();
        };
        let mut s: *mut RedisModuleString = ptr::null_mut();
        // SAFETY: live value; with a NULL context the string is ours to free.
        let status = unsafe { f(self.v, ptr::null_mut(), &mut s) };
        // SAFETY: made for us by getJSON (or NULL).
        let owned = unsafe { OwnedString::from_raw(s) };
        match owned {
            Some(o) if status == OK => o.bytes().to_vec(),
            _ => Vec::new(),
        }
    }

    /// A string value's bytes, borrowed.
    pub fn string(&self) -> Option<&[u8]> {
        let f = self.api.0.getString?;
        let mut p: *const c_char = ptr::null();
        let mut len = 0usize;
        // SAFETY: live value; the bytes are borrowed from it.
        let status = unsafe { f(self.v, &mut p, &mut len) };
        if status != OK || p.is_null() {
            return None;
        }
        // SAFETY: RedisJSON gave a pointer and length into the stored string.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    fn type_code(&self) -> c_int {
        // SAFETY: live value.
        self.api.0.getType.map_or(-1, |f| unsafe { f(self.v) })
    }
}

impl JsonNode for Node {
    fn kind(&self) -> Kind {
        match self.type_code() {
            JSON_STRING => Kind::String(
                self.string()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            ),
            JSON_INT | JSON_DOUBLE => {
                let mut d = 0f64;
                // SAFETY: live value; getDouble converts integers too.
                let ok = self
                    .api
                    .0
                    .getDouble
                    .is_some_and(|f| unsafe { f(self.v, &mut d) } == OK);
                if ok {
                    Kind::Number(d)
                } else {
                    Kind::Null
                }
            }
            JSON_BOOL => {
                let mut b: c_int = 0;
                // SAFETY: live value.
                let ok = self
                    .api
                    .0
                    .getBoolean
                    .is_some_and(|f| unsafe { f(self.v, &mut b) } == OK);
                if ok {
                    Kind::Bool(b != 0)
                } else {
                    Kind::Null
                }
            }
            JSON_OBJECT => Kind::Object,
            JSON_ARRAY => Kind::Array,
            _ => Kind::Null,
        }
    }

    fn elements(&self) -> Vec<Node> {
        if self.type_code() != JSON_ARRAY {
            return Vec::new();
        }
        self.select("$[*]")
    }

    fn string_leaves(&self) -> Vec<String> {
        // RedisJSON's recursive descent visits every value below, in document order.
        self.select("$..*")
            .into_iter()
            .filter(|n| n.type_code() == JSON_STRING)
            .filter_map(|n| n.string().map(|b| String::from_utf8_lossy(b).into_owned()))
            .collect()
    }
}
