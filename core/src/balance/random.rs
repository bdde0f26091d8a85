//! Random: a host chosen uniformly among the eligible ones.

pub(super) fn pick(n: usize, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
    let count = (0..n).filter(|&i| eligible(i)).count();
    if count == 0 {
        return None;
    }
    let k = fastrand::usize(..count);
    (0..n).filter(|&i| eligible(i)).nth(k)
}
