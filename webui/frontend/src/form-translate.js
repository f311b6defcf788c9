// Chinese texts for form-js's own strings (inline validation, lists, pickers). Field labels come
// from the form files, which are written in Chinese already. Unknown strings stay in English.

const ZH = {
  'Field is required.': '此项为必填项。',
  'Field must have minimum value of {value}.': '不能小于 {value}。',
  'Field must have maximum value of {value}.': '不能大于 {value}。',
  'Field must have minimum length of {value}.': '至少需要 {value} 个字符。',
  'Field must have maximum length of {value}.': '最多 {value} 个字符。',
  'Field must match pattern {value}.': '格式不正确（应符合 {value}）。',
  'Field must be a valid email.': '请输入有效的电子邮箱。',
  'Field must be a valid international phone number. (e.g. +4930664040900)':
    '请输入有效的国际电话号码（例如 +8613800000000）。',
  'Value is not a number.': '请输入数字。',
  'Value is expected to be an integer.': '请输入整数。',
  'Value is expected to have at most 1 decimal digit.': '最多保留 1 位小数。',
  'Value is expected to have at most {value} decimal digits.': '最多保留 {value} 位小数。',
  'Please select a valid value, the two nearest valid values are {previousValue} and {nextValue}.':
    '请输入有效值，最接近的两个有效值是 {previousValue} 和 {nextValue}。',
  'Min validation value is not a valid number.': '最小值设置不是有效数字。',
  'Max validation value is not a valid number.': '最大值设置不是有效数字。',
  'Date and time must both be entered.': '日期和时间都需要填写。',
  'Add new': '添加',
  'Collapse': '收起',
  'Expand all ({value})': '全部展开（{value}）',
  'Search': '搜索',
  'Skip to search': '跳到搜索',
  'Remove tag': '移除',
  'No results': '无结果',
  'All values selected': '已全部选择',
  'Nothing to show.': '暂无内容。',
  'No content to show.': '暂无内容。',
  'Previous page': '上一页',
  'Next page': '下一页',
  '{page} of {total}': '第 {page} / {total} 页',
  'Increment': '增加',
  'Decrement': '减少',
  'No files selected': '未选择文件',
  '{value} files selected': '已选择 {value} 个文件',
  'Download {fileName}': '下载 {fileName}',
  'Unable to download document': '无法下载文件',
  'Document reference is not defined.': '未指定文件。',
  'Click to sort by {value} descending': '按 {value} 降序排列',
  'Click to sort by {value} ascending': '按 {value} 升序排列',
  'Click to remove sorting': '取消排序',
};

function fill(template, replacements) {
  const values = replacements || {};
  return template.replace(/{([^}]+)}/g, (whole, key) =>
    values[key] !== undefined && values[key] !== null ? String(values[key]) : whole,
  );
}

/** form-js `translate` service for the locale ('zh' or 'en'). */
export function translatorFor(locale) {
  const table = locale === 'zh' ? ZH : {};
  return (template, replacements) => fill(table[template] || template, replacements);
}

/** A form-js module replacing its `translate` service. */
export function translateModule(locale) {
  return { translate: ['value', translatorFor(locale)] };
}
