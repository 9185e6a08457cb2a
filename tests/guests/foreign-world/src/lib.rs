//! A component of another world: it exports `other:greeter/greet`, not the promoter
//! interface.

wit_bindgen::generate!({ world: "greeter", path: "wit" });

struct Greeter;

impl exports::other::greeter::greet::Guest for Greeter {
    fn hello() -> String {
        "hello".into()
    }
}

export!(Greeter);
