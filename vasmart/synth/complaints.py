"""Free-text complaint records as a call-centre agent would key them (GBK Chinese, with personal details)."""

from __future__ import annotations

import numpy as np

_TEMPLATES = {
    "UNWANTED_ORDER": [
        "用户{msisdn}反映未经本人同意被开通{service}业务，要求取消并退还信息费",
        "客户{name}称营业厅办理业务时被捆绑开通{service}，不认可扣费",
        "用户来电投诉莫名订购{service}，从未使用，要求退订",
    ],
    "DELIVERY": [
        "用户{msisdn}反映订购的{service}长期收不到，手机显示无法接收彩信",
        "客户{name}称{service}内容接收失败，要求核查",
    ],
    "CONTENT": [
        "用户反映{service}内容陈旧、质量差，要求改进",
        "客户{name}认为{service}推送内容不健康，要求处理",
    ],
    "BILLING": [
        "用户{msisdn}对本月账单有异议，认为话费过高",
        "客户{name}称套餐费用扣取错误，要求核查详单",
        "用户反映GPRS流量费异常，要求查询",
    ],
    "NETWORK": [
        "用户{msisdn}反映所在小区信号差，经常掉话",
        "客户{name}反映上网速度慢，无法正常使用",
    ],
    "OTHER": [
        "用户咨询业务办理流程，对答复不满意",
        "客户{name}要求补办SIM卡，对营业厅服务态度不满",
    ],
}


def texts(rng: np.random.Generator, category: np.ndarray, msisdn: np.ndarray, name: np.ndarray,
          service_code: np.ndarray) -> np.ndarray:
    """One complaint text per row; about 5% are left empty."""
    out = np.empty(len(category), dtype=object)
    picks = rng.integers(0, 1_000, len(category))
    empty = rng.random(len(category)) < 0.05
    for i, cat in enumerate(category):
        if empty[i]:
            out[i] = None
            continue
        options = _TEMPLATES[cat]
        template = options[picks[i] % len(options)]
        out[i] = template.format(msisdn=msisdn[i], name=name[i] or "客户", service=service_code[i] or "增值")
    return out
