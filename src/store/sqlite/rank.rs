//! `inlet_rank`, the FTS5 ranking function of SQLite searches: BM25 with
//! the formula and constants of FTS5's own `bm25()`, but each phrase's
//! document frequency given by the statement instead of counted over the
//! whole index.
//!
//! `bm25()` counts every row of the table that holds each phrase, once
//! per statement: every org's documents. A common word's search spent
//! half its time there, in proportion to the whole index, and other orgs'
//! documents weighed the words and timed the search, which contract §11
//! forbids. The statement counts among the org's newest entries instead
//! (a bounded cost; `SearchRank::Weighed` in the store's SQL) and calls
//! `inlet_rank(search_fts, row length, entries, holding phrase 0, …)`; the
//! row's length in tokens comes from its entry, which the search reads
//! anyway, instead of a seek into FTS5's docsize table for every match.

use crate::domain::search::query::MAX_TERMS;
use rusqlite::ffi;
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

/// BM25's term-frequency saturation and length normalisation, FTS5's.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Makes `inlet_rank` callable on `conn`.
pub fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let failure = |rc| rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None);
    let mut api: *mut ffi::fts5_api = null_mut();
    // SAFETY: the handle is the open connection's. FTS5 hands out its API
    // by writing it through a pointer bound to `SELECT fts5(?)`, tagged
    // with the type name it checks; `api` outlives the statement.
    let rc = unsafe {
        let db = conn.handle();
        let mut statement = null_mut();
        let rc = ffi::sqlite3_prepare_v2(
            db,
            c"SELECT fts5(?1)".as_ptr(),
            -1,
            &mut statement,
            null_mut(),
        );
        if rc == ffi::SQLITE_OK {
            ffi::sqlite3_bind_pointer(
                statement,
                1,
                &mut api as *mut _ as *mut c_void,
                c"fts5_api_ptr".as_ptr(),
                None,
            );
            ffi::sqlite3_step(statement);
        }
        ffi::sqlite3_finalize(statement);
        rc
    };
    if rc != ffi::SQLITE_OK {
        return Err(failure(rc));
    }
    if api.is_null() {
        return Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_ERROR),
            Some("this SQLite has no FTS5".into()),
        ));
    }
    // SAFETY: `api` is FTS5's, valid while the connection is open, and
    // `rank` has the signature of an FTS5 auxiliary function.
    let rc = unsafe {
        match (*api).xCreateFunction {
            Some(create) => create(api, c"inlet_rank".as_ptr(), null_mut(), Some(rank), None),
            None => ffi::SQLITE_ERROR,
        }
    };
    match rc {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(failure(rc)),
    }
}

/// One row's relevance (higher is better): for each phrase, its weight
/// among the `entries` that were counted times its saturated frequency in
/// this row, normalised by the row's length against the average.
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    context: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with its API, the current row's context and
    // `argc` values.
    match unsafe { relevance(&*api, fts, argc, argv) } {
        Ok(score) => unsafe { ffi::sqlite3_result_double(context, score) },
        Err(message) => unsafe { ffi::sqlite3_result_error(context, message.as_ptr(), -1) },
    }
}

/// What every row of a statement is ranked by, computed at its first row.
struct Weights {
    /// Each phrase's inverse document frequency.
    phrases: Vec<f64>,
    /// The average length of a row, in tokens.
    average: f64,
}

unsafe fn relevance(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> Result<f64, &'static std::ffi::CStr> {
    let fail = c"inlet_rank: FTS5 could not read the row";
    let (Some(get_auxdata), Some(inst_count), Some(inst)) =
        (api.xGetAuxdata, api.xInstCount, api.xInst)
    else {
        return Err(fail);
    };
    // SAFETY: FTS5 keeps the statement's auxiliary data until it ends;
    // only `weights` stores it, as a `Weights`.
    let mut weights = unsafe { get_auxdata(fts, 0) } as *const Weights;
    if weights.is_null() {
        weights = unsafe { statement_weights(api, fts, argc, argv) }?;
    }
    // SAFETY: not null, and alive as long as the statement.
    let weights = unsafe { &*weights };

    // SAFETY: `statement_weights` checked that there are arguments.
    let length = unsafe { ffi::sqlite3_value_double(*argv) };
    let mut instances: c_int = 0;
    // SAFETY: FTS5's own call on the row it is ranking.
    if unsafe { inst_count(fts, &mut instances) } != ffi::SQLITE_OK {
        return Err(fail);
    }
    // On the stack: this runs for every ranked match, and a query has at
    // most `MAX_TERMS` phrases (`statement_weights` checks).
    let mut frequency = [0.0f64; MAX_TERMS];
    for i in 0..instances {
        let (mut phrase, mut column, mut offset) = (0, 0, 0);
        // SAFETY: `i` is below the row's instance count.
        if unsafe { inst(fts, i, &mut phrase, &mut column, &mut offset) } != ffi::SQLITE_OK {
            return Err(fail);
        }
        if let Some(f) = frequency.get_mut(phrase as usize) {
            *f += 1.0;
        }
    }
    let norm = K1 * (1.0 - B + B * length / weights.average);
    Ok(frequency
        .iter()
        .zip(&weights.phrases)
        .map(|(&tf, idf)| idf * tf * (K1 + 1.0) / (tf + norm))
        .sum())
}

/// The statement's [`Weights`], from its arguments (the same for every
/// row) and the table's totals, kept as its auxiliary data.
unsafe fn statement_weights(
    api: &ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) -> Result<*const Weights, &'static std::ffi::CStr> {
    let fail = c"inlet_rank: FTS5 could not read the table's totals";
    let (Some(phrase_count), Some(row_count), Some(total_size), Some(set_auxdata)) = (
        api.xPhraseCount,
        api.xRowCount,
        api.xColumnTotalSize,
        api.xSetAuxdata,
    ) else {
        return Err(fail);
    };
    // SAFETY: FTS5's own calls; SQLite passes `argc` values.
    let phrases = unsafe { phrase_count(fts) }.max(0) as usize;
    if phrases > MAX_TERMS || argc < 2 || argc as usize != phrases + 2 {
        return Err(
            c"inlet_rank: needs the row's length, the entries counted and how many hold each of at most 32 phrases",
        );
    }
    let args = unsafe { std::slice::from_raw_parts(argv, argc as usize) };
    let value = |i: usize| unsafe { ffi::sqlite3_value_double(args[i]) };
    let (mut rows, mut tokens): (i64, i64) = (0, 0);
    unsafe {
        if row_count(fts, &mut rows) != ffi::SQLITE_OK
            || total_size(fts, -1, &mut tokens) != ffi::SQLITE_OK
        {
            return Err(fail);
        }
    }
    let entries = value(1).max(1.0);
    let weights = Box::into_raw(Box::new(Weights {
        phrases: (2..phrases + 2)
            .map(|i| weight(entries, value(i)))
            .collect(),
        average: (tokens as f64 / rows.max(1) as f64).max(1.0),
    }));
    // SAFETY: FTS5 owns the box from here and drops it with `drop_weights`
    // when the statement ends (or at once, if it cannot keep it).
    if unsafe { set_auxdata(fts, weights.cast(), Some(drop_weights)) } != ffi::SQLITE_OK {
        return Err(fail);
    }
    Ok(weights)
}

unsafe extern "C" fn drop_weights(weights: *mut c_void) {
    // SAFETY: made by `Box::into_raw` in `statement_weights`.
    drop(unsafe { Box::from_raw(weights.cast::<Weights>()) });
}

/// BM25's inverse document frequency of a phrase that `holding` of
/// `entries` hold; like FTS5, never zero or negative (a phrase in most
/// entries still counts a little).
fn weight(entries: f64, holding: f64) -> f64 {
    let idf = ((entries - holding + 0.5) / (holding + 0.5)).ln();
    if idf > 0.0 {
        idf
    } else {
        1e-6
    }
}
