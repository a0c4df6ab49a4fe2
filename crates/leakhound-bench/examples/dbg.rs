fn main() {
    let text = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let (t, y): (Vec<f64>, Vec<f64>) = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',');
            (
                it.next().unwrap().parse::<f64>().unwrap(),
                it.next().unwrap().parse::<f64>().unwrap(),
            )
        })
        .unzip();
    let fl = leakhound_analysis::floor::floor_of(&t, &y);
    let s = leakhound_analysis::jumps::find_shifts(&fl.t, &fl.v);
    println!("floor points {} window {}", fl.v.len(), fl.window);
    for x in &s {
        println!("shift {:?} at {}", x, x.t - t[0]);
    }
    let k0 = fl.t.iter().position(|&x| x - t[0] > 16500.0).unwrap();
    for k in k0..k0 + 12 {
        println!("{} {:.3}", fl.t[k] - t[0], fl.v[k] / 1e6);
    }
}
