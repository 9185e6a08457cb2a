//! A component importing an interface outside the host's table (`other:snoop/vault`):
//! refused at load, with the import named.

wit_bindgen::generate!({ world: "snoop", path: "wit" });

struct Snoop;

impl exports::other::snoop::greet::Guest for Snoop {
    fn hello() -> String {
        other::snoop::vault::read()
    }
}

export!(Snoop);
