//! Page requests and pages: the pagination rules every list endpoint shares.

/// The page size used when the client gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 30;
/// The largest page size served; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: u32 = 100;

/// Why page parameters were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    #[error("must be 1 or more")]
    PageBelowOne,
    #[error("must be 1 or more")]
    PageSizeBelowOne,
}

/// Which page of a listing to return. Always valid once built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    page_size: u32,
}

impl PageRequest {
    /// Builds a request from what the client sent, applying the defaults and the clamp.
    ///
    /// # Errors
    /// [`PagingError`] when `page` or `page_size` is below 1.
    pub fn new(
        page: Option<i64>,
        page_size: Option<i64>,
        default_size: u32,
    ) -> Result<Self, PagingError> {
        let page = match page {
            None => 1,
            Some(p) if p < 1 => return Err(PagingError::PageBelowOne),
            Some(p) => u32::try_from(p).unwrap_or(u32::MAX),
        };
        let page_size = match page_size {
            None => default_size.min(MAX_PAGE_SIZE),
            Some(s) if s < 1 => return Err(PagingError::PageSizeBelowOne),
            Some(s) => u32::try_from(s.min(i64::from(MAX_PAGE_SIZE))).unwrap_or(MAX_PAGE_SIZE),
        };
        Ok(Self { page, page_size })
    }

    /// The 1-based page number.
    #[must_use]
    pub const fn page(&self) -> u32 {
        self.page
    }

    /// Items per page, at most [`MAX_PAGE_SIZE`].
    #[must_use]
    pub const fn page_size(&self) -> u32 {
        self.page_size
    }

    /// Rows to skip before this page.
    #[must_use]
    pub fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.page_size)
    }

    /// Rows to return.
    #[must_use]
    pub fn limit(&self) -> i64 {
        i64::from(self.page_size)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    /// Parses "asc" or "desc" (any case).
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        match input.to_ascii_lowercase().as_str() {
            "asc" => Some(Self::Asc),
            "desc" => Some(Self::Desc),
            _ => None,
        }
    }
}

/// One page of a listing and what the client needs to fetch the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub request: PageRequest,
    pub total_count: u64,
}

impl<T> Page<T> {
    /// How many pages the whole listing has at this page size (0 when it is empty).
    #[must_use]
    pub fn total_pages(&self) -> u64 {
        self.total_count
            .div_ceil(u64::from(self.request.page_size()))
    }

    /// The same page with its items converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            request: self.request,
            total_count: self.total_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let r = PageRequest::new(None, None, DEFAULT_PAGE_SIZE);
        assert_eq!(r.map(|r| (r.page(), r.page_size())), Ok((1, 30)));
    }

    #[test]
    fn page_size_above_the_maximum_is_clamped() {
        let r = PageRequest::new(Some(2), Some(1000), DEFAULT_PAGE_SIZE);
        assert_eq!(
            r.map(|r| (r.page(), r.page_size(), r.offset())),
            Ok((2, 100, 100))
        );
    }

    #[test]
    fn page_or_size_below_one_is_refused() {
        assert_eq!(
            PageRequest::new(Some(0), None, 30),
            Err(PagingError::PageBelowOne)
        );
        assert_eq!(
            PageRequest::new(Some(-3), None, 30),
            Err(PagingError::PageBelowOne)
        );
        assert_eq!(
            PageRequest::new(None, Some(0), 30),
            Err(PagingError::PageSizeBelowOne)
        );
    }

    #[test]
    fn total_pages_rounds_up_and_is_zero_when_empty() {
        let request = PageRequest::new(None, Some(10), 30).unwrap_or_default();
        let page = |total_count| Page::<()> {
            items: vec![],
            request,
            total_count,
        };
        assert_eq!(page(0).total_pages(), 0);
        assert_eq!(page(10).total_pages(), 1);
        assert_eq!(page(11).total_pages(), 2);
    }

    #[test]
    fn sort_order_parses_both_directions_only() {
        assert_eq!(SortOrder::parse("ASC"), Some(SortOrder::Asc));
        assert_eq!(SortOrder::parse("desc"), Some(SortOrder::Desc));
        assert_eq!(SortOrder::parse("up"), None);
    }
}
