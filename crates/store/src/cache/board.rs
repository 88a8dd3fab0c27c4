//! The board cache: the latest board of each project, as served.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use uuid::Uuid;

use super::ReportCache;

/// One board as served at one seq: its JSON text and, beside it, the compressed forms of
/// that text that clients asked for. The HTTP layer makes each compressed form on the first
/// request that wants it and keeps it here, so a board is compressed at most once per
/// encoding for as long as it is current (two racing first requests may both compress;
/// whichever stores first is kept, and both bodies are the same JSON).
#[derive(Debug)]
pub struct CachedBoard {
    /// The project's event seq the board was read at.
    pub seq: i64,
    pub json: Arc<str>,
    /// `json` gzip-compressed, once asked for.
    pub gzip: OnceLock<Bytes>,
    /// `json` brotli-compressed, once asked for.
    pub br: OnceLock<Bytes>,
}

impl CachedBoard {
    pub fn new(seq: i64, json: Arc<str>) -> Self {
        Self {
            seq,
            json,
            gzip: OnceLock::new(),
            br: OnceLock::new(),
        }
    }

    /// What the board counts for in the cache's byte bound. Weighed once, at insertion,
    /// before any compressed form exists: JSON boards compress 5–10×, so half the JSON's
    /// size again covers both forms with room to spare, and the bound holds without
    /// weighing the entry again when a form is added.
    pub(super) fn weight(&self) -> u32 {
        let json = self.json.len();
        u32::try_from(json + json / 2 + 64).unwrap_or(u32::MAX)
    }
}

impl ReportCache {
    /// The cached board of `project` as of `seq`, if that is the one cached.
    pub async fn board(&self, project: Uuid, seq: i64) -> Option<Arc<CachedBoard>> {
        if let Some(board) = self.boards.get(&project).await
            && board.seq == seq
        {
            return Some(board);
        }
        let found = self.shared_get(&format!("board:{project}")).await?;
        // Stored as "<seq>\n<board JSON>" (the compressed forms are not shared: each
        // instance makes its own when asked).
        let (cached, text) = found.split_once('\n')?;
        if cached.parse::<i64>().ok()? != seq {
            return None;
        }
        let board = Arc::new(CachedBoard::new(seq, Arc::from(text)));
        self.boards.insert(project, board.clone()).await;
        Some(board)
    }

    /// Caches the board of `project`, replacing an older one (never a newer), and answers
    /// the entry to serve: the one already cached when it is at the same seq, so that its
    /// compressed forms are shared rather than made again.
    pub async fn put_board(&self, project: Uuid, board: Arc<CachedBoard>) -> Arc<CachedBoard> {
        if let Some(cached) = self.boards.get(&project).await
            && cached.seq >= board.seq
        {
            return if cached.seq == board.seq {
                cached
            } else {
                board
            };
        }
        self.shared_set(
            &format!("board:{project}"),
            &format!("{}\n{}", board.seq, board.json),
        )
        .await;
        self.boards.insert(project, board.clone()).await;
        board
    }
}
