use typenet::prelude::*;

// Branches that disagree on the height and width: reported at the branch that differs.
network! {
    pub struct Sizes: (3, 16, 16) {
        Concat { [Conv2D(8, 3)], [Conv2D(8, 1)] },
    }
}

// An image and a flat vector never concatenate.
network! {
    pub struct Ranks: (3, 16, 16) {
        Concat { [Conv2D(8, 3, padding = same)], [Flatten] },
    }
}

// Add needs one shape.
network! {
    pub struct Sum: (16) {
        Add { [Dense(8)], [Dense(8)], [Dense(4)] },
    }
}

// One branch is no merge; layers need brackets.
network! {
    pub struct One: (16) {
        Concat { [Dense(8)] },
        Add { Dense(16) },
    }
}

const H: usize = 16;
const C: usize = 4;

// Sizes from constants: a compile-time assertion at the branch.
network! {
    pub struct ConstSizes: (C, H, H) {
        Concat { [Conv2D(8, 3)], [] },
    }
}

// A constant shape that differs from the first branch's: a type error at the branch.
network! {
    pub struct ConstAdd: (C) {
        Add { [Dense(8)], [] },
    }
}

fn main() {}
