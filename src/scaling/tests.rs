use super::*;

#[test]
fn standard_fit_centres_and_scales() {
    let x: Vec<f32> = (0..1000).map(|i| 1000.0 + (i % 10) as f32).collect();
    let y: Vec<f32> = (0..1000).map(|i| -5.0 + 2.0 * (i % 2) as f32).collect();
    let s = Scaling::fit(ScaleMethod::Standard, &x, &y).unwrap();
    assert!((s.input.center - 1004.5).abs() < 1e-9);
    // Population std of 0..9 is sqrt(8.25).
    assert!((s.input.scale - 8.25f64.sqrt()).abs() < 1e-9);
    assert!((s.output.center + 4.0).abs() < 1e-9 && (s.output.scale - 1.0).abs() < 1e-9);
    let mut v = x[..10].to_vec();
    s.input.normalise(&mut v);
    let mean: f32 = v.iter().sum::<f32>() / 10.0;
    assert!(mean.abs() < 1e-6, "{mean}");
    s.input.denormalise(&mut v);
    for (a, b) in v.iter().zip(&x[..10]) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn robust_fit_ignores_spikes() {
    // Quantiles as numpy computes them: np.quantile(x, [.25, .5, .75]).
    let mut x: Vec<f32> = (0..101).map(|i| i as f32).collect();
    x[100] = 1e9; // one spike
    let s = Scaling::fit(ScaleMethod::Robust, &x, &x).unwrap();
    assert_eq!(s.input.center, 50.0);
    assert!((s.input.scale - 50.0 / 1.349).abs() < 1e-9);
}

/// A few spikes that set the standard deviation are found; a normal
/// channel, a sine, a channel mostly at one value with bursts, and one
/// with many far values (a second state, not spikes) are not.
#[test]
fn rare_far_values_that_set_the_spread_are_spikes() {
    let mut rng = crate::rng::Rng::new(7);
    let mut noise = || rng.normal() as f32 * 0.5;
    let mut x: Vec<f32> = (0..6000).map(|_| noise()).collect();
    assert_eq!(Spikes::find(&x), None);
    for i in 0..10 {
        x[3000 + i] = if i % 2 == 0 { 40.0 } else { -40.0 };
    }
    let s = Spikes::find(&x).unwrap();
    assert_eq!((s.count, s.first), (10, 3000));
    assert!(
        s.std > 2.0 * s.robust && (s.robust - 0.5).abs() < 0.05,
        "{s:?}"
    );
    let sine: Vec<f32> = (0..6000).map(|i| (i as f32 * 0.01).sin()).collect();
    assert_eq!(Spikes::find(&sine), None);
    // (with noise, so that its spread is not 0: too many far values)
    let bursts: Vec<f32> = (0..6000)
        .map(|i| noise() * 0.01 + if i % 50 < 5 { 9.0 } else { 0.0 })
        .collect();
    assert_eq!(Spikes::find(&bursts), None);
    let mut two_states = x.clone();
    for v in &mut two_states[..600] {
        *v += 40.0;
    }
    assert_eq!(Spikes::find(&two_states), None);
    // A PV plant's power every 5 min: nights (two thirds of the rows) at
    // -0.1 and dull days set the median and spread; a bright day's midday
    // climbs far from them (73 rows, 0.8%) and back, and is no spike; a
    // 9999 on a dull day is one.
    let mut pv: Vec<f32> = (0..288 * 30)
        .map(|i| {
            let peak = if i / 288 == 5 { 250.0 } else { 40.0 };
            let hour = (i % 288) as f32 / 12.0;
            let sun = (std::f32::consts::PI * (hour - 8.0) / 8.0).sin();
            if sun > 0.0 {
                peak * sun.powf(1.5)
            } else {
                -0.1
            }
        })
        .collect();
    assert_eq!(Spikes::find(&pv), None, "a bright day is no spike");
    pv[288 * 12 + 150] = 9999.0;
    let s = Spikes::find(&pv).unwrap();
    assert_eq!((s.count, s.first), (1, 288 * 12 + 150));
    // So is one at the bright day's own peak, within its climb.
    pv[288 * 12 + 150] = -0.1;
    pv[288 * 5 + 144] = 9999.0;
    let s = Spikes::find(&pv).unwrap();
    assert_eq!((s.count, s.first), (1, 288 * 5 + 144));
}

/// A code is a repeated far extreme or written as one; a second state
/// of a mostly constant channel (a valve twice open) is not one, nor is
/// a plain signal.
#[test]
fn missing_value_codes_are_told_from_states() {
    let valve: Vec<f32> = (0..1000)
        .map(|i| if i == 10 || i == 500 { 100.0 } else { 0.0 })
        .collect();
    assert_eq!(Sentinel::find(&valve), None);
    let mut coded = valve.clone();
    coded[20] = -9999.0;
    let s = Sentinel::find(&coded).map(|s| (s.value, s.count, s.first, s.lo, s.hi));
    assert_eq!(s, Some((-9999.0, 1, 20, 0.0, 100.0)));
    let sine: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.1).sin()).collect();
    assert_eq!(Sentinel::find(&sine), None);
    let mut repeated = sine.clone();
    repeated[300] = 55.0;
    assert_eq!(
        Sentinel::find(&repeated),
        None,
        "once, and not a code's form"
    );
    repeated[400] = 55.0;
    assert_eq!(Sentinel::find(&repeated).map(|s| s.count), Some(2));
    // A pump off for hours (0 rpm) or a heater at 0 or ~2 kW: states.
    let pump: Vec<f32> = (0..1000)
        .map(|i| {
            if i < 700 {
                0.0
            } else {
                1450.0 + (i % 20) as f32
            }
        })
        .collect();
    assert_eq!(Sentinel::find(&pump), None);
    let heater: Vec<f32> = (0..999)
        .map(|i| {
            if i % 3 == 0 {
                0.0
            } else {
                2.0 + (i % 10) as f32 * 0.01
            }
        })
        .collect();
    assert_eq!(Sentinel::find(&heater), None);
    for code in [-9999.0, 999999.0, -999.9, -99.9, 32767.0, -32768.0, 65535.0] {
        assert!(looks_like_code(code), "{code}");
    }
    for data in [-1000.0, 9.0, 998.0, 9999.5, 0.0] {
        assert!(!looks_like_code(data), "{data}");
    }
}

/// A logger's outage filled with 0 in a channel that is never near 0
/// (a supply temperature of 55–80 °C) is found, not the states of one
/// that often is (rain, a pump off), nor a channel that saturates.
#[test]
fn a_run_of_fill_values_is_told_from_states_and_saturation() {
    let supply = |i: usize| 67.0 + 12.0 * (i as f32 * 0.05).sin();
    let mut filled: Vec<f32> = (0..2000).map(supply).collect();
    filled[1000..1072].fill(0.0);
    let f = Fill::find(&filled).map(|f| (f.value, f.run, f.first, f.count));
    assert_eq!(f, Some((0.0, 72, 1000, 72)));
    assert_eq!(Sentinel::find(&filled), None, "not far enough for a code");
    // Eleven rows are not a run; nor is the fill where the channel goes.
    let mut short: Vec<f32> = (0..2000).map(supply).collect();
    short[1000..1011].fill(0.0);
    assert_eq!(Fill::find(&short), None);
    let mut inside: Vec<f32> = (0..2000).map(supply).collect();
    inside[1000..1072].fill(67.0);
    assert_eq!(Fill::find(&inside), None);
    // A turbine at its rated power for hours: at the edge, not outside.
    let rated: Vec<f32> = (0..2000)
        .map(|i| {
            if (500..560).contains(&i) {
                2050.0
            } else {
                1000.0 + (i % 1000) as f32
            }
        })
        .collect();
    assert_eq!(Fill::find(&rated), None);
    // Rain, 0 most hours; a pump off a third of the time: states.
    let rain: Vec<f32> = (0..2000)
        .map(|i| {
            if i % 100 < 10 {
                (i % 7) as f32 + 1.0
            } else {
                0.0
            }
        })
        .collect();
    assert_eq!(Fill::find(&rain), None);
    let pump: Vec<f32> = (0..2000)
        .map(|i| {
            if i % 300 < 100 {
                0.0
            } else {
                1450.0 + (i % 20) as f32
            }
        })
        .collect();
    assert_eq!(Fill::find(&pump), None);
    // A fill run shorter than a state's (a stop at 0 for hours) is still
    // found (a vessel's logger: 30 rows of -50 beside 11 h of 0).
    let mut stopped = pump.clone();
    stopped[100..700].fill(0.0);
    stopped[1500..1530].fill(-800.0);
    let f = Fill::find(&stopped).map(|f| (f.value, f.run, f.first));
    assert_eq!(f, Some((-800.0, 30, 1500)));
}

/// A value written as a code, repeated beyond the rest of a channel, is a
/// code even near it (-999 below a shaft power of 0 to 8,000 kW, beside a
/// stop at 0 that hides a fill); one at the rest's edge (a display
/// topping out at 999) is not.
#[test]
fn a_code_just_beyond_a_wide_channel_is_one() {
    let mut power: Vec<f32> = (0..3000)
        .map(|i| {
            if i < 500 {
                0.0
            } else {
                4000.0 + 3900.0 * (i as f32 * 0.01).sin()
            }
        })
        .collect();
    power[2000..2030].fill(-999.0);
    let s = Sentinel::find(&power).map(|s| (s.value, s.count, s.first));
    assert_eq!(s, Some((-999.0, 30, 2000)));
    let display: Vec<f32> = (0..3000)
        .map(|i| if i % 50 == 0 { 999.0 } else { (i % 999) as f32 })
        .collect();
    assert_eq!(Sentinel::find(&display), None);
    // Two digits of nines are a humidity's top (88–99 %), or a charge
    // sitting at 99% a third of the time: not codes.
    let humidity: Vec<f32> = (0..5000).map(|i| 88.0 + (i * 7 % 12) as f32).collect();
    assert_eq!(Sentinel::find(&humidity), None);
    let charge: Vec<f32> = (0..5000)
        .map(|i| {
            if i % 3 == 0 {
                99.0
            } else {
                92.0 + (i % 7) as f32
            }
        })
        .collect();
    assert_eq!(Sentinel::find(&charge), None);
}

/// A channel at one value most of the time (rain: 0 in 9 of 10 hours)
/// has no interquartile range: its robust spread is the central 98%'s.
#[test]
fn robust_fit_of_a_channel_mostly_at_one_value() {
    let rain: Vec<f32> = (0..1000)
        .map(|i| if i % 10 == 0 { (i % 7) as f32 } else { 0.0 })
        .collect();
    let ramp: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let s = Scaling::fit(ScaleMethod::Robust, &rain, &ramp).unwrap();
    let q = sorted(rain.iter().copied());
    let want = (quantile_sorted(&q, 0.99) - quantile_sorted(&q, 0.01)) / 4.653;
    assert!(want > 0.0);
    assert_eq!((s.input.center, s.input.scale), (0.0, want));
    // A channel constant but for under 1% of its samples is still refused.
    let mut flat = vec![0.0f32; 1000];
    flat[3] = 1.0;
    assert!(Scaling::fit(ScaleMethod::Robust, &flat, &ramp).is_err());
}

#[test]
fn constant_channel_is_refused_and_none_is_identity() {
    let c = vec![3.0f32; 50];
    let v: Vec<f32> = (0..50).map(|i| i as f32).collect();
    let e = Scaling::fit(ScaleMethod::Standard, &v, &c).unwrap_err();
    assert!(e.to_string().contains("output channel"), "{e}");
    let s = Scaling::fit(ScaleMethod::None, &v, &c).unwrap();
    assert!(s.is_identity());
    assert!(
        Scaling {
            method: ScaleMethod::Standard,
            input: Affine {
                center: 0.0,
                scale: 0.0
            },
            output: Affine::IDENTITY
        }
        .check()
        .is_err()
    );
}
