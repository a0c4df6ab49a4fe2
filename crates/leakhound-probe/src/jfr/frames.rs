//! Java classes and stack frames as a person reads them, from the JVM's internal names.

/// A class as Java source writes it, from its internal name or descriptor: `java/lang/String`
/// is `java.lang.String`, `[B` is `byte[]`, `[Ljava/lang/String;` is `java.lang.String[]`.
pub fn class_name(internal: &str) -> String {
    let descriptor = internal.replace('/', ".");
    let dims = descriptor.bytes().take_while(|b| *b == b'[').count();
    if dims == 0 {
        return descriptor;
    }
    let elem = &descriptor[dims..];
    let base = match elem {
        "B" => "byte",
        "C" => "char",
        "D" => "double",
        "F" => "float",
        "I" => "int",
        "J" => "long",
        "S" => "short",
        "Z" => "boolean",
        _ => elem
            .strip_prefix('L')
            .and_then(|e| e.strip_suffix(';'))
            .unwrap_or(elem),
    };
    format!("{base}{}", "[]".repeat(dims))
}

/// A hidden class's name without the suffix the JVM numbers it with at run time:
/// `Leak$$Lambda$240+0x00007f485c150c68/166794956` is `Leak$$Lambda`, so its frames keep one
/// name from run to run (a site is keyed by its frames).
fn stable(class: &str) -> &str {
    match (class.find("$$Lambda"), class.find("+0x")) {
        (Some(i), _) => &class[..i + "$$Lambda".len()],
        (None, Some(i)) => &class[..i],
        (None, None) => class,
    }
}

/// The source file javac requires for a public top-level class: `com.acme.Cart$Line` is in
/// `Cart.java`. A flight recording names no file; this is the convention, right for public
/// classes and nearly every other.
fn file_of(class: &str) -> String {
    let simple = class.rsplit('.').next().unwrap_or(class);
    let top = simple.split('$').next().unwrap_or(simple);
    format!("{top}.java")
}

/// A frame as leakhound writes Java frames: `Leak.rememberSession (Leak.java:50)`, innermost
/// first in a stack like every runtime's; `(Leak.java)` when the line is unknown, `(Native
/// Method)` for a native method, as a Java stack trace says.
pub fn frame_text(internal_class: &str, method: &str, line: i64, native: bool) -> String {
    let class = class_name(stable(internal_class));
    let place = if native {
        "Native Method".to_string()
    } else if line >= 0 {
        format!("{}:{line}", file_of(&class))
    } else {
        file_of(&class)
    };
    format!("{class}.{method} ({place})")
}

/// The frame that stands for the allocated object's class, innermost in a JVM site's stack
/// (allocation profilers show the class that way, above the code that allocates it):
/// `[class] Leak$Session`. Class histograms name their sites by this frame alone.
pub fn class_frame(class: &str) -> String {
    format!("[class] {class}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_frames_read_as_in_java() {
        assert_eq!(class_name("[[I"), "int[][]");
        assert_eq!(class_name("[Ljava/lang/Object;"), "java.lang.Object[]");
        assert_eq!(class_name("[Ljava.lang.String;"), "java.lang.String[]");
        assert_eq!(class_name("Leak$Session"), "Leak$Session");
        assert_eq!(
            frame_text("Leak", "rememberSession", 50, false),
            "Leak.rememberSession (Leak.java:50)"
        );
        assert_eq!(
            frame_text("java/util/ArrayList$Itr", "next", 12, false),
            "java.util.ArrayList$Itr.next (ArrayList.java:12)"
        );
        assert_eq!(
            frame_text(
                "Leak$$Lambda$240+0x00007f485c150c68/166794956",
                "apply",
                -1,
                false
            ),
            "Leak$$Lambda.apply (Leak.java)"
        );
        assert_eq!(
            frame_text(
                "jdk/internal/reflect/NativeMethodAccessorImpl",
                "invoke0",
                -1,
                true
            ),
            "jdk.internal.reflect.NativeMethodAccessorImpl.invoke0 (Native Method)"
        );
        assert_eq!(class_frame("Leak$Session"), "[class] Leak$Session");
    }
}
