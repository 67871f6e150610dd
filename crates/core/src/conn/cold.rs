//! Rarely set state kept out of line: a [`Cold`] value costs one pointer while it holds
//! its default, and is allocated on the first change.

use core::ops::{Deref, DerefMut};

/// A type with a shared default instance that [`Cold`] reads while unset.
pub(crate) trait ColdDefault: Clone + PartialEq + 'static {
    /// The default value.
    fn default_ref() -> &'static Self;

    /// A new value equal to the default, for the first write: a clone of the default,
    /// unless the type builds one more cheaply.
    #[inline]
    fn fresh() -> Self {
        Self::default_ref().clone()
    }
}

/// `T` out of line: reads see the default until something writes.
#[derive(Debug, Clone)]
pub(crate) struct Cold<T: ColdDefault>(Option<Box<T>>);

impl<T: ColdDefault> Cold<T> {
    /// The default value, unallocated.
    pub const fn new() -> Cold<T> {
        Cold(None)
    }

    /// Replaces the value; a default one gives its memory back.
    pub fn set(&mut self, v: T) {
        if v == *T::default_ref() {
            self.0 = None;
        } else {
            match self.0.as_mut() {
                Some(b) => **b = v,
                None => self.0 = Some(Box::new(v)),
            }
        }
    }

    /// Back to the default, giving the memory back (for a value whose default is
    /// empty, as a queue that has drained: the next write allocates again).
    #[inline]
    pub fn reset(&mut self) {
        self.0 = None;
    }

    /// The value if it is out of line, to change without allocating (a write that
    /// brings a value back toward its default has nothing to do while it is unset).
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    /// The value if it is out of line (`None`: it reads as the default).
    #[inline]
    pub fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }

    /// Whether the value is out of line: `false` guarantees it reads as the default.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Whether the value is out of line (not the default).
    #[cfg(test)]
    pub fn is_allocated(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: ColdDefault> Default for Cold<T> {
    fn default() -> Cold<T> {
        Cold::new()
    }
}

impl<T: ColdDefault> Deref for Cold<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::default_ref())
    }
}

impl<T: ColdDefault> DerefMut for Cold<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(|| Box::new(T::fresh()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct V {
        n: u32,
    }
    impl ColdDefault for V {
        fn default_ref() -> &'static V {
            static D: V = V { n: 7 };
            &D
        }
    }

    #[test]
    fn reads_default_until_written_and_frees_on_default() {
        let mut c: Cold<V> = Cold::new();
        assert_eq!((c.n, c.is_allocated()), (7, false));
        c.n = 8;
        assert_eq!((c.n, c.is_allocated()), (8, true));
        c.set(V { n: 7 });
        assert!(!c.is_allocated());
        c.set(V { n: 9 });
        assert_eq!((c.n, c.is_allocated()), (9, true));
    }
}
