//! Bounded label values.
//!
//! Every labelled metric takes its label values from an enum defined here, so the set of series is
//! known at start-up (and zero-registered), and no caller can put a DID, an address or an error
//! string into a label.

use metrics::Counter;

/// A closed set of values for one label.
pub trait LabelValue: Copy + Eq + std::fmt::Debug + 'static {
    /// The label's name, e.g. `reason`.
    const LABEL: &'static str;
    /// Every value, in declaration order; `ALL[v.index()] == v`.
    const ALL: &'static [Self];
    /// The value as it appears in the exposition.
    fn as_str(self) -> &'static str;
    /// Position of the value in [`LabelValue::ALL`].
    fn index(self) -> usize;
}

/// Declares a label enum implementing [`LabelValue`], with a `VALUES` constant for the catalogue.
#[macro_export]
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $label:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every label value as text, in declaration order.
            pub const VALUES: &'static [&'static str] = &[$($text),+];
        }

        impl $crate::labels::LabelValue for $name {
            const LABEL: &'static str = $label;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

/// One counter per value of a label enum, all registered (at zero) up front.
#[derive(Clone)]
pub struct CounterVec<L: LabelValue> {
    counters: Vec<Counter>,
    _label: std::marker::PhantomData<L>,
}

impl<L: LabelValue> CounterVec<L> {
    /// Builds the vector from one counter per value, in [`LabelValue::ALL`] order.
    pub(crate) fn new(counters: Vec<Counter>) -> Self {
        debug_assert_eq!(counters.len(), L::ALL.len());
        Self {
            counters,
            _label: std::marker::PhantomData,
        }
    }

    /// The counter for one label value.
    pub fn get(&self, value: L) -> &Counter {
        &self.counters[value.index()]
    }

    /// Increments the counter for `value` by one.
    pub fn inc(&self, value: L) {
        self.get(value).increment(1);
    }
}

impl<L: LabelValue> std::fmt::Debug for CounterVec<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterVec")
            .field("label", &L::LABEL)
            .finish()
    }
}

label_enum! {
    /// The supervised actors of a node.
    pub enum Actor: "actor" {
        /// QUIC endpoint and sessions.
        Network => "network",
        /// Gossip protocol core.
        Gossip => "gossip",
        /// Ledger core.
        Ledger => "ledger",
        /// Local control API.
        Rpc => "rpc",
        /// Storage writer (group commit).
        Storage => "storage",
    }
}
