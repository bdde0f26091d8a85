//! Power of two choices: of two distinct random eligible hosts, the one with fewer attempts in
//! flight (Mitzenmacher). Nearly as good as least-loaded, without scanning every host.

pub(super) fn pick(
    n: usize,
    eligible: &dyn Fn(usize) -> bool,
    in_flight: impl Fn(usize) -> i64,
) -> Option<usize> {
    let candidates: Vec<usize> = (0..n).filter(|&i| eligible(i)).collect();
    match candidates.len() {
        0 => None,
        1 => Some(candidates[0]),
        len => {
            let a = fastrand::usize(..len);
            let mut b = fastrand::usize(..len - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (candidates[a], candidates[b]);
            Some(if in_flight(b) < in_flight(a) { b } else { a })
        }
    }
}
