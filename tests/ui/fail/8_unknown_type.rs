use typenet::prelude::*;

// A bare name that is not a layer (nor close to one) is a nested network: here, one that
// does not exist. One error, at the name.
network! {
    pub struct UsesMissing: (16) {
        Encoder,
        Dense(4),
    }
}

fn main() {}
